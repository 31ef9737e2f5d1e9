"""Hand-written mistakes a DBA could plausibly make in the inventory or the policy, each with the one line
``dbpatch validate`` must answer. A case replaces one line of a valid file (``INVENTORY``, ``POLICY``) by
``new`` (``None`` deletes it; ``new`` may hold several lines); ``expected`` is the whole error line without the
file name; starting with ``…``, a part of it; ``"…"`` alone means the file is valid."""

from __future__ import annotations

INVENTORY = """\
targets:
  - name: pg-orders-1
    engine: postgresql
    environment: prod
    cluster: pg-orders
    host: db1.example.com
    port: 5432
    credentials: pg-prod
    package_source: apt
    data_directory: /var/lib/postgresql/15/main
    service: main
    tags: [canary]
  - name: pg-orders-2
    engine: postgresql
    environment: prod
    cluster: pg-orders
    host: 10.0.0.12
    port: 5432
    credentials: pg-prod
    package_source: apt
  - name: mongo-cat-1
    engine: mongodb
    environment: test
    cluster: mongo-cat
    host: mongo1.example.com
    port: 27017
    credentials: mongo-test
    access: ssh
    host_access: ssh-test
    package_source: dnf
  - name: sql-fin
    engine: sqlserver
    environment: prod
    os: windows
    host: sql1.corp.example.com
    port: 1433
    credentials: sql-prod
    access: winrm
    host_access: winrm-prod
    package_source: sqlserver-cu
    service: MSSQLSERVER
"""

POLICY = """\
baselines:
  postgresql:
    '15': {approved: ['15.14'], max_behind: 1}
    '16':
      approve_after_days: 14
      rejected: ['16.3']
  mongodb:
    '7.0': {approved: ['7.0.14']}
  sqlserver:
    '2022': {approve_after_days: 30}
thresholds:
  max_lag_bytes: 16777216
  max_lag_seconds: 10
  catchup_timeout_seconds: 300
canary:
  count: 1
  bake_hours: 12
windows:
  - name: prod-weekend
    environments: [prod]
    rrule: FREQ=MONTHLY;BYDAY=+3SA
    start: '22:00'
    timezone: Europe/Berlin
    duration_hours: 6
    cutoff_hours: 1
  - name: dev-tuesday
    environments: [dev, test]
    rrule: FREQ=WEEKLY;BYDAY=TU
    start: '19:30'
    timezone: America/New_York
    duration_hours: 3
blackouts:
  - name: year-end freeze
    start: 2026-12-20
    end: 2027-01-05
waves:
  order: [dev, test, prod]
  max_concurrency: 2
  max_errors: '1'
  approval_required: [prod]
"""

# (name, file, line, new, expected); ``new`` may also be {line: text} to change several lines
CASES: list[tuple[str, str, int, str | dict[int, str] | None, str]] = [
    # --- inventory: types -------------------------------------------------------------------------------
    (
        "port as bool",
        "inventory",
        7,
        "    port: true",
        "line 7: targets[0].port: must be a whole number, not True",
    ),
    (
        "port as quoted text",
        "inventory",
        7,
        "    port: '5432'",
        "line 7: targets[0].port: must be a whole number, not '5432'",
    ),
    ("port as float", "inventory", 7, "    port: 5432.0", "line 7: targets[0].port: must be a whole number"),
    ("port zero", "inventory", 7, "    port: 0", "line 7: targets[0].port: must be 1..65535"),
    ("port negative", "inventory", 7, "    port: -5432", "line 7: targets[0].port: must be 1..65535"),
    ("port too big", "inventory", 7, "    port: 654320", "line 7: targets[0].port: must be 1..65535"),
    (
        "port huge",
        "inventory",
        7,
        "    port: 99999999999999999999999999",
        "line 7: targets[0].port: must be 1..65535",
    ),
    (
        "port with range",
        "inventory",
        7,
        "    port: 5432-5433",
        "line 7: targets[0].port: must be a whole number, not '5432-5433'",
    ),
    ("port missing", "inventory", 7, None, "line 2: targets[0].port: required field is missing"),
    ("port empty", "inventory", 7, "    port:", "line 7: targets[0].port: must be a whole number"),
    ("port as list", "inventory", 7, "    port: [5432]", "line 7: targets[0].port: must be a whole number"),
    (
        "port sexagesimal",
        "inventory",
        7,
        "    port: 54:32",
        "line 7: targets[0].port: must be a whole number, not '54:32'",
    ),
    (
        "name uppercase",
        "inventory",
        2,
        "  - name: PG-Orders-1",
        "line 2: targets[0].name: 'PG-Orders-1' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "name with space",
        "inventory",
        2,
        "  - name: pg orders 1",
        "line 2: targets[0].name: 'pg orders 1' is not a valid name (a-z, 0-9, . _ -)",
    ),
    ("name as number", "inventory", 2, "  - name: 42", "line 2: targets[0].name: must be a string"),
    (
        "name with slash",
        "inventory",
        2,
        "  - name: pg/orders",
        "line 2: targets[0].name: 'pg/orders' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "name too long",
        "inventory",
        2,
        "  - name: " + "p" * 64,
        "line 2: targets[0].name: '" + "p" * 64 + "' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "name with unicode",
        "inventory",
        2,
        "  - name: pg-ördérs",
        "line 2: targets[0].name: 'pg-ördérs' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "name trailing newline",
        "inventory",
        2,
        '  - name: "pg-orders-1\\n"',
        "line 2: targets[0].name: 'pg-orders-1\\n' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "credentials trailing newline",
        "inventory",
        8,
        '    credentials: "pg-prod\\n"',
        "line 8: targets[0].credentials: 'pg-prod\\n' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "credentials with tab",
        "inventory",
        8,
        '    credentials: "pg\\tprod"',
        "line 8: targets[0].credentials: 'pg\\tprod' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "credentials missing",
        "inventory",
        8,
        None,
        "line 2: targets[0].credentials: required field is missing",
    ),
    (
        "engine typo",
        "inventory",
        3,
        "    engine: postgres",
        "line 3: targets[0].engine: must be one of: postgresql, mongodb or sqlserver",
    ),
    (
        "engine capitalised",
        "inventory",
        3,
        "    engine: PostgreSQL",
        "line 3: targets[0].engine: must be one of: postgresql, mongodb or sqlserver",
    ),
    (
        "engine oracle",
        "inventory",
        3,
        "    engine: oracle",
        "line 3: targets[0].engine: must be one of: postgresql, mongodb or sqlserver",
    ),
    (
        "environment missing",
        "inventory",
        4,
        None,
        "line 2: targets[0].environment: required field is missing",
    ),
    ("environment yes", "inventory", 4, "    environment: yes", "…"),  # YAML 1.2: "yes" is text, a valid name
    (
        "environment true",
        "inventory",
        4,
        "    environment: true",
        "line 4: targets[0].environment: must be a string, not True",
    ),
    (
        "package_source typo",
        "inventory",
        9,
        "    package_source: apt-get",
        "line 9: targets[0].package_source: must be one of: apt, dnf, lab or sqlserver-cu",
    ),
    (
        "package_source yum",
        "inventory",
        9,
        "    package_source: yum",
        "line 9: targets[0].package_source: must be one of: apt, dnf, lab or sqlserver-cu",
    ),
    (
        "access typo",
        "inventory",
        28,
        "    access: sshd",
        "line 28: targets[2].access: must be one of: local, ssh or winrm",
    ),
    (
        "ssh without host_access",
        "inventory",
        29,
        None,
        "line 21: targets[2]: access 'ssh' needs host_access (the name of an SSH or WinRM block)",
    ),
    (
        "sqlserver on linux",
        "inventory",
        34,
        "    os: linux",
        "line 34: targets[3].os: sqlserver targets must have os: windows",
    ),
    (
        "sqlserver os missing",
        "inventory",
        34,
        None,
        "line 31: targets[3].os: sqlserver targets must have os: windows",
    ),
    ("os typo", "inventory", 34, "    os: win", "line 34: targets[3].os: must be one of: linux or windows"),
    (
        "unknown key",
        "inventory",
        12,
        "    tags: [canary]\n    colour: red",
        "line 13: targets[0].colour: unknown key",
    ),
    (
        "misspelt key",
        "inventory",
        10,
        "    data_dir: /var/lib/postgresql/15/main",
        "line 10: targets[0].data_dir: unknown key",
    ),
    (
        "key with capital",
        "inventory",
        6,
        "    Host: db1.example.com",
        "line 6: targets[0].Host: unknown key (did you mean 'host'?)",
    ),
    (
        "host with shell",
        "inventory",
        6,
        "    host: 'db1; rm -rf /'",
        "line 6: targets[0].host: 'db1; rm -rf /' is not a valid host name or IP address",
    ),
    (
        "host with scheme",
        "inventory",
        6,
        "    host: postgres://db1.example.com",
        "line 6: targets[0].host: 'postgres://db1.example.com' is not a valid host name or IP address",
    ),
    (
        "host with port",
        "inventory",
        6,
        "    host: db1.example.com:5432",
        "line 6: targets[0].host: 'db1.example.com:5432' is not a valid host name or IP address",
    ),
    (
        "host with underscore",
        "inventory",
        6,
        "    host: db_1.example.com",
        "line 6: targets[0].host: 'db_1.example.com' is not a valid host name or IP address",
    ),
    (
        "host trailing newline",
        "inventory",
        6,
        '    host: "db1.example.com\\n"',
        "line 6: targets[0].host: 'db1.example.com\\n' is not a valid host name or IP address",
    ),
    (
        "host bad ipv4",
        "inventory",
        17,
        "    host: 10.0.0.312",
        "line 17: targets[1].host: '10.0.0.312' is not a valid IP address",
    ),
    (
        "host bad ipv6",
        "inventory",
        17,
        "    host: 'fe80::1::2'",
        "line 17: targets[1].host: 'fe80::1::2' is not a valid IP address",
    ),
    (
        "host empty",
        "inventory",
        6,
        "    host: ''",
        "line 6: targets[0].host: '' is not a valid host name or IP address",
    ),
    ("host as number", "inventory", 6, "    host: 10", "line 6: targets[0].host: must be a string"),
    (
        "data_directory relative",
        "inventory",
        10,
        "    data_directory: var/lib/postgresql/15/main",
        "line 10: targets[0].data_directory: 'var/lib/postgresql/15/main' is not a valid absolute path (letters, digits, . _ - /)",
    ),
    (
        "data_directory with ..",
        "inventory",
        10,
        "    data_directory: /var/lib/../../etc",
        "line 10: targets[0].data_directory: '/var/lib/../../etc' is not a normalised absolute path (no '..', '.', '//' or trailing '/')",
    ),
    (
        "data_directory double slash",
        "inventory",
        10,
        "    data_directory: /var/lib//postgresql",
        "line 10: targets[0].data_directory: '/var/lib//postgresql' is not a normalised absolute path (no '..', '.', '//' or trailing '/')",
    ),
    (
        "data_directory trailing slash",
        "inventory",
        10,
        "    data_directory: /var/lib/postgresql/",
        "line 10: targets[0].data_directory: '/var/lib/postgresql/' is not a normalised absolute path (no '..', '.', '//' or trailing '/')",
    ),
    (
        "data_directory root",
        "inventory",
        10,
        "    data_directory: /",
        "line 10: targets[0].data_directory: '/' is not a normalised absolute path (no '..', '.', '//' or trailing '/')",
    ),
    (
        "data_directory windows",
        "inventory",
        10,
        "    data_directory: 'C:\\data'",
        "line 10: targets[0].data_directory: 'C:\\\\data' is not a valid absolute path (letters, digits, . _ - /)",
    ),
    (
        "data_directory with space",
        "inventory",
        10,
        "    data_directory: /var/lib/my data",
        "line 10: targets[0].data_directory: '/var/lib/my data' is not a valid absolute path (letters, digits, . _ - /)",
    ),
    (
        "service with space",
        "inventory",
        11,
        "    service: pg main",
        "line 11: targets[0].service: 'pg main' is not a valid service name (e.g. main, postgresql@15-main, MSSQLSERVER, MSSQL$PROD)",
    ),
    (
        "service with semicolon",
        "inventory",
        11,
        "    service: main;reboot",
        "line 11: targets[0].service: 'main;reboot' is not a valid service name (e.g. main, postgresql@15-main, MSSQLSERVER, MSSQL$PROD)",
    ),
    (
        "service dollar twice",
        "inventory",
        41,
        "    service: MSSQL$A$B",
        "line 41: targets[3].service: 'MSSQL$A$B' is not a valid service name (e.g. main, postgresql@15-main, MSSQLSERVER, MSSQL$PROD)",
    ),
    ("tags as string", "inventory", 12, "    tags: canary", "line 12: targets[0].tags: must be a list"),
    (
        "tags with bad name",
        "inventory",
        12,
        "    tags: [Canary]",
        "line 12: targets[0].tags[0]: 'Canary' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "duplicate key host",
        "inventory",
        6,
        "    host: db1.example.com\n    host: db9.example.com",
        "line 7: duplicate key 'host' (first on line 6)",
    ),
    (
        "duplicate key name",
        "inventory",
        3,
        "    engine: postgresql\n    name: pg-orders-9",
        "line 4: duplicate key 'name' (first on line 2)",
    ),
    (
        "duplicate target name",
        "inventory",
        13,
        "  - name: pg-orders-1",
        "line 13: targets[1].name: duplicate target name 'pg-orders-1' (also targets[0])",
    ),
    (
        "cluster mixes engines",
        "inventory",
        24,
        "    cluster: pg-orders",
        "line 22: targets[2].engine: cluster 'pg-orders' mixes engines: mongodb here, postgresql in targets[0]",
    ),
    (
        "target not a mapping",
        "inventory",
        13,
        "  - pg-orders-2\n  - name: pg-orders-3",
        "line 13: targets[1]: must be a mapping",
    ),
    ("tab indentation", "inventory", 7, "\tport: 5432", "…line 7: invalid YAML: "),
    (
        "bad indentation",
        "inventory",
        7,
        "      port: 5432",
        "…line 7: invalid YAML: mapping values are not allowed",
    ),
    ("unclosed bracket", "inventory", 12, "    tags: [canary", "…invalid YAML"),
    ("unclosed quote", "inventory", 8, "    credentials: 'pg-prod", "…invalid YAML"),
    (
        "control character",
        "inventory",
        8,
        "    credentials: pg\x07prod",
        "line 8: invalid YAML: a control character is not allowed",
    ),
    (
        "merge key",
        "inventory",
        13,
        "  - <<: {engine: postgresql}\n    name: pg-orders-2",
        "line 13: merge keys (<<) are not supported; write the keys out",
    ),
    (
        "python tag",
        "inventory",
        8,
        "    credentials: !!python/object/apply:os.system [id]",
        "line 8: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not supported",
    ),
    (
        "custom tag",
        "inventory",
        8,
        "    credentials: !vault pg-prod",
        "line 8: tag '!vault' is not supported",
    ),
    (
        "unknown alias",
        "inventory",
        8,
        "    credentials: *prod",
        "…invalid YAML: found undefined alias 'prod'",
    ),
    ("top level list", "inventory", 1, "- targets:", "(top level): must be a mapping"),
    (
        "top level key typo",
        "inventory",
        1,
        "target:",
        "line 1: target: unknown key (did you mean 'targets'?)",
    ),
    # --- policy: baselines ------------------------------------------------------------------------------
    (
        "major unquoted",
        "policy",
        3,
        "    15: {approved: ['15.14']}",
        "line 3: baselines.postgresql.15: write the major as quoted text ('15'), not a number",
    ),
    (
        "major float",
        "policy",
        8,
        "    7.0: {approved: ['7.0.14']}",
        "line 8: baselines.mongodb.7.0: write the major as quoted text ('7.0'), not a number",
    ),
    (
        "major malformed",
        "policy",
        3,
        "    'fifteen': {approved: ['15.14']}",
        "line 3: baselines.postgresql.fifteen: 'fifteen' is not a postgresql major (e.g. '15' (9.6 before 10))",
    ),
    (
        "mongodb major without minor",
        "policy",
        8,
        "    '7': {approved: ['7.0.14']}",
        "line 8: baselines.mongodb.7: '7' is not a mongodb major (e.g. '7.0')",
    ),
    (
        "sqlserver unknown year",
        "policy",
        10,
        "    '2023': {approve_after_days: 30}",
        "line 10: baselines.sqlserver.2023: '2023' is not a sqlserver major (e.g. '16.0' or '2022')",
    ),
    (
        "same major twice",
        "policy",
        10,
        "    '2022': {approve_after_days: 30}\n    '16.0': {approve_after_days: 7}",
        "line 11: baselines.sqlserver.16.0: the same major as '2022'",
    ),
    (
        "approved of another major",
        "policy",
        3,
        "    '15': {approved: ['16.4']}",
        "line 3: baselines.postgresql.15.approved[0]: '16.4' is not a postgresql 15 version",
    ),
    (
        "approved not a list",
        "policy",
        3,
        "    '15': {approved: '15.14'}",
        "line 3: baselines.postgresql.15.approved: must be a list",
    ),
    (
        "approved unquoted float",
        "policy",
        3,
        "    '15': {approved: [15.14]}",
        "line 3: baselines.postgresql.15.approved[0]: must be a string",
    ),
    (
        "approved with shell",
        "policy",
        3,
        "    '15': {approved: ['15.14; rm -rf /']}",
        "line 3: baselines.postgresql.15.approved[0]: '15.14; rm -rf /' is not a valid version (digits and dots, e.g. 15.20)",
    ),
    (
        "approved with patch part",
        "policy",
        3,
        "    '15': {approved: ['15.14.1']}",
        "line 3: baselines.postgresql.15.approved[0]: '15.14.1' is not a valid postgresql version",
    ),
    (
        "approved debian suffix",
        "policy",
        3,
        "    '15': {approved: ['15.14-1.pgdg120+1']}",
        "line 3: baselines.postgresql.15.approved[0]: '15.14-1.pgdg120+1' is not a valid version (digits and dots, e.g. 15.20)",
    ),
    (
        "rejected of another major",
        "policy",
        6,
        "      rejected: ['15.3']",
        "line 6: baselines.postgresql.16.rejected[0]: '15.3' is not a postgresql 16 version",
    ),
    (
        "mongodb version short",
        "policy",
        8,
        "    '7.0': {approved: ['7.0']}",
        "line 8: baselines.mongodb.7.0.approved[0]: '7.0' is not a valid mongodb version",
    ),
    (
        "approve_after_days negative",
        "policy",
        5,
        "      approve_after_days: -3",
        "line 5: baselines.postgresql.16.approve_after_days: must be 0..3650",
    ),
    (
        "approve_after_days text",
        "policy",
        5,
        "      approve_after_days: 14 days",
        "line 5: baselines.postgresql.16.approve_after_days: must be a whole number, not '14 days'",
    ),
    (
        "approve_after_days bool",
        "policy",
        5,
        "      approve_after_days: true",
        "line 5: baselines.postgresql.16.approve_after_days: must be a whole number, not True",
    ),
    (
        "approve_until_date wrong format",
        "policy",
        5,
        "      approve_until_date: 24.12.2026",
        "line 5: baselines.postgresql.16.approve_until_date: must be a date (YYYY-MM-DD)",
    ),
    (
        "approve_until_date impossible",
        "policy",
        5,
        "      approve_until_date: 2026-02-30",
        "line 5: baselines.postgresql.16.approve_until_date: '2026-02-30' is not a calendar date",
    ),
    (
        "approve_on_canary yes",
        "policy",
        5,
        "      approve_on_canary: yes",
        "line 5: baselines.postgresql.16.approve_on_canary: must be true or false, not 'yes'",
    ),
    (
        "approve_on_canary 1",
        "policy",
        5,
        "      approve_on_canary: 1",
        "line 5: baselines.postgresql.16.approve_on_canary: must be true or false",
    ),
    (
        "max_behind text",
        "policy",
        3,
        "    '15': {approved: ['15.14'], max_behind: one}",
        "line 3: baselines.postgresql.15.max_behind: must be a whole number, not 'one'",
    ),
    (
        "engine key typo",
        "policy",
        7,
        "  mongo:",
        "line 7: baselines.mongo: must be one of: postgresql, mongodb or sqlserver",
    ),
    (
        "baseline unknown key",
        "policy",
        5,
        "      auto_approve_days: 14",
        "line 5: baselines.postgresql.16.auto_approve_days: unknown key",
    ),
    (
        "duplicate major key",
        "policy",
        6,
        "      rejected: ['16.3']\n    '15': {approved: ['15.15']}",
        "line 7: duplicate key '15' (first on line 3)",
    ),
    # --- policy: thresholds, canary, waves --------------------------------------------------------------
    (
        "max_lag_bytes with unit",
        "policy",
        12,
        "  max_lag_bytes: 16MB",
        "line 12: thresholds.max_lag_bytes: must be a whole number, not '16MB'",
    ),
    (
        "max_lag_bytes quoted",
        "policy",
        12,
        "  max_lag_bytes: '16777216'",
        "line 12: thresholds.max_lag_bytes: must be a whole number, not '16777216'",
    ),
    (
        "max_lag_bytes negative",
        "policy",
        12,
        "  max_lag_bytes: -1",
        "line 12: thresholds.max_lag_bytes: must be 0..1099511627776",
    ),
    (
        "max_lag_seconds nan",
        "policy",
        13,
        "  max_lag_seconds: .nan",
        "line 13: thresholds.max_lag_seconds: must be 0..86400",
    ),
    (
        "max_lag_seconds infinite",
        "policy",
        13,
        "  max_lag_seconds: .inf",
        "line 13: thresholds.max_lag_seconds: must be 0..86400",
    ),
    (
        "max_lag_seconds bool",
        "policy",
        13,
        "  max_lag_seconds: false",
        "line 13: thresholds.max_lag_seconds: must be a number, not False",
    ),
    (
        "catchup timeout zero",
        "policy",
        14,
        "  catchup_timeout_seconds: 0",
        "line 14: thresholds.catchup_timeout_seconds: must be 1..86400",
    ),
    (
        "backup command as string",
        "policy",
        14,
        "  catchup_timeout_seconds: 300\n  backup_check_command: pgbackrest check",
        "line 15: thresholds.backup_check_command: must be a list",
    ),
    ("threshold typo", "policy", 13, "  max_lag_secs: 10", "line 13: thresholds.max_lag_secs: unknown key"),
    ("canary count negative", "policy", 16, "  count: -1", "line 16: canary.count: must be 0..100"),
    (
        "canary count bool",
        "policy",
        16,
        "  count: true",
        "line 16: canary.count: must be a whole number, not True",
    ),
    (
        "bake_hours with unit",
        "policy",
        17,
        "  bake_hours: 12h",
        "line 17: canary.bake_hours: must be a number, not '12h'",
    ),
    ("bake_hours too long", "policy", 17, "  bake_hours: 200", "line 17: canary.bake_hours: must be 0..168"),
    (
        "max_errors zero quoted",
        "policy",
        39,
        "  max_errors: 0",
        "line 39: waves.max_errors: must be text: a count ('1') or a percentage ('25%')",
    ),
    (
        "max_errors over 100 percent",
        "policy",
        39,
        "  max_errors: '101%'",
        "line 39: waves.max_errors: '101%': a percentage must be 0..100",
    ),
    (
        "max_errors fraction",
        "policy",
        39,
        "  max_errors: '0.5'",
        "line 39: waves.max_errors: '0.5' is not a valid count or percentage (e.g. '1' or '25%')",
    ),
    (
        "max_errors trailing newline",
        "policy",
        39,
        '  max_errors: "1\\n"',
        "line 39: waves.max_errors: '1\\n' is not a valid count or percentage (e.g. '1' or '25%')",
    ),
    (
        "max_concurrency zero",
        "policy",
        38,
        "  max_concurrency: 0",
        "line 38: waves.max_concurrency: must be 1..50",
    ),
    (
        "max_concurrency quoted",
        "policy",
        38,
        "  max_concurrency: '2'",
        "line 38: waves.max_concurrency: must be a whole number, not '2'",
    ),
    (
        "wave order bad name",
        "policy",
        37,
        "  order: [Dev, test, prod]",
        "line 37: waves.order[0]: 'Dev' is not a valid name (a-z, 0-9, . _ -)",
    ),
    (
        "approval_required as string",
        "policy",
        40,
        "  approval_required: prod",
        "line 40: waves.approval_required: must be a list",
    ),
    # --- policy: windows and blackouts ------------------------------------------------------------------
    ("start unquoted 22:00", "policy", 22, "    start: 22:00", "…"),  # YAML 1.2: the text '22:00', not 1320
    (
        "start as minutes",
        "policy",
        22,
        "    start: 1320",
        "line 22: windows[0].start: must be a time written as 'HH:MM' (quote it: start: '22:00')",
    ),
    (
        "start 24:00",
        "policy",
        22,
        "    start: '24:00'",
        "line 22: windows[0].start: '24:00' is not a time (HH:MM, 00:00..23:59)",
    ),
    (
        "start with pm",
        "policy",
        22,
        "    start: 10pm",
        "line 22: windows[0].start: '10pm' is not a time (HH:MM, 00:00..23:59)",
    ),
    (
        "start with timezone",
        "policy",
        22,
        "    start: '22:00+01:00'",
        "line 22: windows[0].start: '22:00+01:00' is not a time (HH:MM, 00:00..23:59)",
    ),
    (
        "start single digit",
        "policy",
        22,
        "    start: '9:00'",
        "line 22: windows[0].start: '9:00' is not a time (HH:MM, 00:00..23:59)",
    ),
    (
        "timezone region only",
        "policy",
        23,
        "    timezone: America",
        "line 23: windows[0].timezone: unknown IANA timezone 'America'",
    ),
    (
        "timezone abbreviation",
        "policy",
        23,
        "    timezone: CEST",
        "line 23: windows[0].timezone: unknown IANA timezone 'CEST'",
    ),
    (
        "timezone offset",
        "policy",
        23,
        "    timezone: UTC+1",
        "line 23: windows[0].timezone: unknown IANA timezone 'UTC+1'",
    ),
    (
        "timezone lower case",
        "policy",
        23,
        "    timezone: europe/berlin",
        "line 23: windows[0].timezone: unknown IANA timezone 'europe/berlin'",
    ),
    (
        "timezone path",
        "policy",
        23,
        "    timezone: ../../etc/passwd",
        "line 23: windows[0].timezone: unknown IANA timezone '../../etc/passwd'",
    ),
    (
        "timezone trailing newline",
        "policy",
        23,
        '    timezone: "Europe/Berlin\\n"',
        "line 23: windows[0].timezone: unknown IANA timezone 'Europe/Berlin\\n'",
    ),
    (
        "rrule bogus freq",
        "policy",
        21,
        "    rrule: FREQ=BOGUS",
        "line 21: windows[0].rrule: 'FREQ=BOGUS': invalid 'FREQ': BOGUS",
    ),
    (
        "rrule minutely",
        "policy",
        21,
        "    rrule: FREQ=MINUTELY",
        "line 21: windows[0].rrule: 'FREQ=MINUTELY': nothing more often than daily (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY)",
    ),
    (
        "rrule hourly",
        "policy",
        21,
        "    rrule: FREQ=HOURLY;INTERVAL=6",
        "line 21: windows[0].rrule: 'FREQ=HOURLY;INTERVAL=6': nothing more often than daily (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY)",
    ),
    (
        "rrule byhour",
        "policy",
        21,
        "    rrule: FREQ=DAILY;BYHOUR=22",
        "line 21: windows[0].rrule: 'FREQ=DAILY;BYHOUR=22': BYHOUR/BYMINUTE/BYSECOND are not allowed (start sets the time)",
    ),
    (
        "rrule dtstart",
        "policy",
        21,
        "    rrule: 'DTSTART:20260101T220000 RRULE:FREQ=MONTHLY'",
        "line 21: windows[0].rrule: must not set DTSTART (the window's start and timezone set it)",
    ),
    (
        "rrule never occurs",
        "policy",
        21,
        "    rrule: FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "line 21: windows[0].rrule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30': the rule has no date at all",
    ),
    (
        "rrule ended",
        "policy",
        21,
        "    rrule: FREQ=MONTHLY;BYDAY=+3SA;UNTIL=20250101",
        "line 21: windows[0].rrule: 'FREQ=MONTHLY;BYDAY=+3SA;UNTIL=20250101': no date in the next 400 days",
    ),
    (
        "rrule count used up",
        "policy",
        21,
        "    rrule: FREQ=MONTHLY;BYDAY=+3SA;COUNT=3",
        "line 21: windows[0].rrule: 'FREQ=MONTHLY;BYDAY=+3SA;COUNT=3': no date in the next 400 days",
    ),
    (
        "rrule bad byday",
        "policy",
        21,
        "    rrule: FREQ=MONTHLY;BYDAY=3SAT",
        "line 21: windows[0].rrule: 'FREQ=MONTHLY;BYDAY=3SAT': invalid 'BYDAY': 3SAT",
    ),
    (
        "rrule lower case day",
        "policy",
        21,
        "    rrule: FREQ=WEEKLY;BYDAY=sa",
        "…",
    ),  # dateutil reads rule parts case-insensitively
    (
        "rrule empty",
        "policy",
        21,
        "    rrule: ''",
        "line 21: windows[0].rrule: '': one rule, e.g. FREQ=MONTHLY;BYDAY=+3SA",
    ),
    (
        "rrule as cron",
        "policy",
        21,
        "    rrule: '0 22 * * 6'",
        "line 21: windows[0].rrule: '0 22 * * 6': one rule, e.g. FREQ=MONTHLY;BYDAY=+3SA",
    ),
    (
        "window longer than daily recurrence",
        "policy",
        21,
        {21: "    rrule: FREQ=DAILY", 24: "    duration_hours: 30"},
        "line 24: windows[0].duration_hours: 30 h is not shorter than the time between two dates of the rule (1 d)",
    ),
    (
        "window as long as its recurrence",
        "policy",
        28,
        {28: "    rrule: FREQ=WEEKLY;BYDAY=TU,WE", 31: "    duration_hours: 24"},
        "line 31: windows[1].duration_hours: 24 h is not shorter than the time between two dates of the rule (1 d)",
    ),
    ("daily window of 3 h", "policy", 28, "    rrule: FREQ=DAILY", "…"),  # fine
    ("weekly window of 72 h", "policy", 31, "    duration_hours: 72", "…"),  # fine
    (
        "duration zero",
        "policy",
        24,
        "    duration_hours: 0",
        "line 24: windows[0].duration_hours: must be 0.5..72",
    ),
    (
        "duration text",
        "policy",
        24,
        "    duration_hours: six",
        "line 24: windows[0].duration_hours: must be a number, not 'six'",
    ),
    (
        "duration bool",
        "policy",
        24,
        "    duration_hours: true",
        "line 24: windows[0].duration_hours: must be a number, not True",
    ),
    (
        "cutoff not before end",
        "policy",
        25,
        "    cutoff_hours: 6",
        "line 25: windows[0].cutoff_hours: 6 h leaves no time in a 6 h window (must be less than duration_hours)",
    ),
    (
        "window name duplicate",
        "policy",
        26,
        "  - name: prod-weekend",
        "line 26: windows[1].name: duplicate window name 'prod-weekend' (also windows[0])",
    ),
    (
        "window environments string",
        "policy",
        20,
        "    environments: prod",
        "line 20: windows[0].environments: must be a list",
    ),
    ("window unknown key", "policy", 24, "    duration: 6", "line 24: windows[0].duration: unknown key"),
    (
        "blackout ends before start",
        "policy",
        35,
        "    end: 2026-12-01",
        "line 35: blackouts[0].end: 2026-12-01 is before start 2026-12-20",
    ),
    (
        "blackout european date",
        "policy",
        34,
        "    start: 20.12.2026",
        "line 34: blackouts[0].start: must be a date (YYYY-MM-DD)",
    ),
    (
        "blackout impossible date",
        "policy",
        35,
        "    end: 2027-02-29",
        "line 35: blackouts[0].end: '2027-02-29' is not a calendar date",
    ),
    (
        "blackout datetime",
        "policy",
        35,
        "    end: 2027-01-05 18:00",
        "line 35: blackouts[0].end: must be a date (YYYY-MM-DD)",
    ),
    (
        "blackout epoch",
        "policy",
        35,
        "    end: 1799999999",
        "line 35: blackouts[0].end: must be a date (YYYY-MM-DD)",
    ),
    (
        "blackout action typo",
        "policy",
        35,
        "    end: 2027-01-05\n    action: postpone",
        "line 36: blackouts[0].action: must be one of: skip or move",
    ),
    (
        "blackout name misspelt",
        "policy",
        33,
        "  - nmae: year-end freeze",
        "line 33: blackouts[0].nmae: unknown key (did you mean 'name'?)",
    ),
    ("blackout name missing", "policy", 33, "  -", "line 34: blackouts[0].name: required field is missing"),
    (
        "blackout name with newline",
        "policy",
        33,
        '  - name: "year-end\\nfreeze"',
        "line 33: blackouts[0].name: 'year-end\\nfreeze' contains a control character",
    ),
    ("section typo", "policy", 36, "wave:", "line 36: wave: unknown key"),
    (
        "duplicate section",
        "policy",
        36,
        "canary: {count: 2}\nwaves:",
        "line 36: duplicate key 'canary' (first on line 15)",
    ),
]
