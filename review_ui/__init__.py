"""review_ui package."""
