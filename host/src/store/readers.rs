//! Read connections: opened read-only on first need, kept for reuse.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// The most idle read connections kept open.
const KEEP: usize = 32;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::default(),
        }
    }

    /// Runs `f` on an idle connection, or a new one.
    pub fn with<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        let reader = self.take()?;
        f(&reader)
    }

    /// An idle connection, or a new one, given back when dropped.
    pub fn take(&self) -> Result<Reader<'_>, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let fail = |e: rusqlite::Error| StoreError::sqlite(&self.path, &e);
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        super::tune(&conn).map_err(fail)?;
        Ok(conn)
    }
}

/// A read connection lent from the pool.
pub struct Reader<'p> {
    pool: &'p Readers,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = self.conn.take()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
    }
}
