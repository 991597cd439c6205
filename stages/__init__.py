"""One module per stage. A stage only imports from ``pipeline`` (the contract), never another stage."""
