"""Simulated worlds with known ground truth: customer behavior, randomized campaigns, price and
stock changes, and the closed email loop."""
