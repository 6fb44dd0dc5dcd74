/*
 * flightmesh: stopping statements that run in the ADBC SQLite driver.
 *
 * Why this exists: the driver links SQLite statically, exports none of its symbols and does not
 * implement ADBC cancel, so nothing in Python can stop a statement that computes for minutes
 * before its first row. The driver can, however, load an SQLite extension into a connection.
 * Loaded, this library holds the driver's own API table (the only way to reach that copy of
 * SQLite), and connectors/sqlite_interrupt.py calls into it through ctypes: the same file, so
 * the same loaded object and the same table.
 *
 * It registers nothing a statement can see (no SQL function, no virtual table). Its init hands
 * the connection to the thread that loaded it; flightmesh_sqlite_watch() then installs a
 * progress handler that stops the running statement once the caller's stop flag is set or its
 * deadline has passed. A flag, not only sqlite3_interrupt(): an interrupt sent before the
 * statement has started is forgotten when it starts, a flag is not.
 *
 * Built by the Makefile (cc -shared -fPIC -fvisibility=hidden) into libsqlite_interrupt.so.
 */
#include <stddef.h>
#include <time.h>

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#define EXPORTED __attribute__((visibility("default")))

/* Virtual-machine steps between two looks at the flag: about 10-50 us of work, and a cost too
 * small to measure on a scan. */
#define STEPS_BETWEEN_CHECKS 1000

/* Owned by the caller (a ctypes Structure), which keeps it alive as long as the connection. */
struct flightmesh_sqlite_stop {
  int stop;                /* non-zero: stop the running statement (set from any thread) */
  long long deadline_ns;   /* CLOCK_MONOTONIC nanoseconds (Python's time.monotonic_ns); 0: none */
};

/* The connection most recently given this extension on this thread. Loading is synchronous
 * (the driver calls sqlite3_load_extension inside its option setter), so the caller takes it
 * right after setting that option, on the same thread. */
static __thread sqlite3 *loaded_on_this_thread;

EXPORTED int sqlite3_flightmesh_interrupt_init(sqlite3 *db, char **error,
                                               const sqlite3_api_routines *api) {
  /* Every connection must come from one SQLite library: a handler installed through another
   * library's table would be handed a structure that library does not own. */
  const sqlite3_api_routines *expected = NULL;
  if (!__atomic_compare_exchange_n(&sqlite3_api, &expected, api, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE) &&
      expected != api) {
    *error = api->mprintf("flightmesh interrupt extension already bound to another SQLite");
    return SQLITE_ERROR;
  }
  loaded_on_this_thread = db;
  return SQLITE_OK;
}

/* The connection this thread just loaded the extension into, once (NULL afterwards). */
EXPORTED void *flightmesh_sqlite_take_loaded(void) {
  sqlite3 *db = loaded_on_this_thread;
  loaded_on_this_thread = NULL;
  return db;
}

static int should_stop(void *argument) {
  const struct flightmesh_sqlite_stop *state = argument;
  if (__atomic_load_n(&state->stop, __ATOMIC_RELAXED)) {
    return 1;
  }
  long long deadline = __atomic_load_n(&state->deadline_ns, __ATOMIC_RELAXED);
  if (deadline != 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((long long)now.tv_sec * 1000000000LL + now.tv_nsec >= deadline) {
      return 1;
    }
  }
  return 0; /* non-zero makes the statement fail with SQLITE_INTERRUPT */
}

/* Watch `db` with `state` from now on; call while `db` runs no statement. */
EXPORTED void flightmesh_sqlite_watch(void *db, struct flightmesh_sqlite_stop *state) {
  sqlite3_progress_handler((sqlite3 *)db, STEPS_BETWEEN_CHECKS, should_stop, state);
}

/* Interrupt the statement `db` is running, also inside a long single step (a big sort), where
 * the progress handler is not consulted. The caller must know `db` is still open. */
EXPORTED void flightmesh_sqlite_interrupt(void *db) {
  sqlite3_interrupt((sqlite3 *)db);
}
