"""Teacher training, cross-fitting and calibration (`rlkd teacher`)."""
