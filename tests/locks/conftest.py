from tests.servers import lock_name, own_redis, pg_database, pg_lock, redis_lock_connection

__all__ = ["lock_name", "own_redis", "pg_database", "pg_lock", "redis_lock_connection"]
