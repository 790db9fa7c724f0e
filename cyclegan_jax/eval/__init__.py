"""Evaluation: `translate`, scores, FID/KID with Inception, the eval.py program and its page."""
