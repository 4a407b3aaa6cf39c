"""What commands show a person: reports, plots, TensorBoard events."""
