"""MongoDB engine: facts (pymongo via ``client``), pre-checks, and package sources for a member's host."""
