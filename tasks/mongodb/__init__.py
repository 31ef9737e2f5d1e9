"""MongoDB engine: facts (pymongo via ``client``), pre-checks, package sources, the replica set on the engine seam
(``engine.MongoEngine``), the scan's fact reader (``scan.read_node_facts``) and ``fcv.raise_fcv``."""
