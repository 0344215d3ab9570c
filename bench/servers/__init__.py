"""The three servers the side-by-side benchmark loads in turn (bench/sidebyside.py)."""
