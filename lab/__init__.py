"""The local lab: a fleet of real (PostgreSQL) and simulated (MongoDB) servers on loopback."""
