//! Statements assembled at run time (optional filters), and reading values both backends
//! store differently.

use sqlx::any::{Any, AnyArguments, AnyRow, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::{Arguments, AssertSqlSafe, Encode, Row, Type};

/// A statement with `$N` placeholders numbered as values are bound (sqlx's `QueryBuilder`
/// writes `?` for the `Any` driver, which PostgreSQL does not accept).
pub(super) struct Statement {
    sql: String,
    arguments: AnyArguments,
    bound: usize,
}

impl Statement {
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            arguments: AnyArguments::default(),
            bound: 0,
        }
    }

    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(super) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any>,
    {
        self.bound += 1;
        self.sql.push('$');
        self.sql.push_str(&self.bound.to_string());
        // Encoding the plain values stored here (text, integers) cannot fail.
        let _ = self.arguments.add(value);
        self
    }

    /// Appends ` AND {column} {op} $N` if there is a value.
    pub(super) fn and<T>(&mut self, column: &str, op: &str, value: Option<T>) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any>,
    {
        if let Some(value) = value {
            self.push(" AND ")
                .push(column)
                .push(" ")
                .push(op)
                .push(" ")
                .bind(value);
        }
        self
    }

    /// Appends `(…), (…)`, one parenthesized row per item, each written by `row` (which
    /// separates its values with `, `): the values of a multi-row `INSERT`.
    pub(super) fn rows<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for (index, item) in items.into_iter().enumerate() {
            self.push(if index == 0 { "(" } else { ", (" });
            row(self, item);
            self.push(")");
        }
        self
    }

    /// The statement's text so far.
    #[cfg(test)]
    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    pub(super) fn build(self) -> Query<'static, Any, AnyArguments> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.arguments)
    }
}

/// An optional float to bind. sqlx 0.9's `Any` driver sends a missing `f64` to PostgreSQL as
/// a `real` (4-byte) null, and PostgreSQL then keeps that type for the prepared statement, so
/// the next present value fails ("incorrect binary data format"). This says `double` for both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Float(pub Option<f64>);

impl Type<Any> for Float {
    fn type_info() -> AnyTypeInfo {
        AnyTypeInfo {
            kind: AnyTypeInfoKind::Double,
        }
    }
}

impl Encode<'_, Any> for Float {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        match self.0 {
            Some(value) => <f64 as Encode<Any>>::encode_by_ref(&value, buf),
            // A missing `f32` is the null the driver turns into a `double` one (its two float
            // kinds are swapped for nulls).
            None => <Option<f32> as Encode<Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// A boolean column: PostgreSQL has a boolean type, SQLite stores 0 or 1.
pub(super) fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(opt_flag(row, column)?.unwrap_or(false))
}

pub(super) fn opt_flag(row: &AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    match row.try_get::<Option<bool>, _>(column) {
        Ok(value) => Ok(value),
        Err(sqlx::Error::ColumnDecode { .. }) => Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(|value| value != 0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_binding_order() {
        let mut statement = Statement::new("SELECT * FROM calls WHERE 1 = 1");
        statement
            .and("status", "=", Some("queued"))
            .and::<String>("provider", "=", None)
            .and("id", "<", Some("x"))
            .push(" LIMIT ")
            .bind(3_i64);
        assert_eq!(
            statement.sql,
            "SELECT * FROM calls WHERE 1 = 1 AND status = $1 AND id < $2 LIMIT $3"
        );
        assert_eq!(statement.arguments.len(), 3);
    }

    #[test]
    fn rows_are_parenthesized_and_separated() {
        let mut statement = Statement::new("INSERT INTO t (a, b) VALUES ");
        statement.rows([("x", 1_i64), ("y", 2)], |s, (a, b)| {
            s.bind(a).push(", ").bind(b);
        });
        assert_eq!(
            statement.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(statement.arguments.len(), 4);
    }
}
