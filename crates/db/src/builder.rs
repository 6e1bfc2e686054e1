//! A small builder for dynamic statements (filters, optional clauses) that numbers `$n`
//! markers itself. sqlx's own builder over `Any` emits `?`, which PostgreSQL rejects, while `$n`
//! works on both backends (kassa-db binds SQLite's `$n` by number).

use sqlx::any::{Any, AnyArguments};
use sqlx::{Arguments, Encode, Type};

use crate::{DbError, Query};

/// SQL text with its bound values, built in order.
#[derive(Default)]
pub struct Sql<'q> {
    text: String,
    args: AnyArguments<'q>,
    count: usize,
    error: Option<String>,
}

impl<'q> Sql<'q> {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            ..Sql::default()
        }
    }

    /// Appends literal SQL. Never pass user input here: bind it with [`Sql::bind`].
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the next `$n` marker and binds `value` to it.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        if let Err(err) = self.args.add(value) {
            self.error.get_or_insert_with(|| err.to_string());
        }
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The finished query, ready to execute or fetch. The bound values move into the query;
    /// build once.
    pub fn build(&'q mut self) -> Result<Query<'q>, DbError> {
        if let Some(err) = &self.error {
            return Err(DbError::Setup(format!("could not bind a value: {err}")));
        }
        let args = std::mem::take(&mut self.args);
        Ok(Query::with_arguments(&self.text, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT * FROM t WHERE a = ");
        sql.bind(1_i64).push(" AND b = ").bind("x".to_owned());
        assert_eq!(sql.text(), "SELECT * FROM t WHERE a = $1 AND b = $2");
    }
}
