"""Reporting: metrics (accuracy, confusion matrix, classification report) and plots."""
