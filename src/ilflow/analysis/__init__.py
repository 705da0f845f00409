"""Analysis of trajectories: statistics with error bars, structure and dynamics."""
