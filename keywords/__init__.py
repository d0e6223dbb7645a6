"""Rule categories, keyword spotting and the transcript search index."""
