from tests.servers import lock_name, pg_database, pg_lock, redis_lock_connection

__all__ = ["lock_name", "pg_database", "pg_lock", "redis_lock_connection"]
