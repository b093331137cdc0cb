"""Matching: scoring, Pareto front, allocation under capacity, collaborative filtering."""
