"""nbship: from exploratory notebooks to production services."""
