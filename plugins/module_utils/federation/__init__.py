"""Federation: the slave's write proxy to the master, MySQL replication, and import-slave."""
