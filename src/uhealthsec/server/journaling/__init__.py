"""What every domain writes into the journal's draft of a request (draft.py)."""
