"""Learning on the fly: candidate features, batch selection and the loop."""
