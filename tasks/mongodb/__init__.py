"""MongoDB engine: facts (pymongo via ``client``), pre-checks, package sources, the rolling replica-set patcher
(``patch.build_mongodb``), the scan's fact reader (``scan.read_node_facts``) and ``fcv.raise_fcv``."""
