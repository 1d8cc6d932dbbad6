//! Errors shared by the sidik crates.
//!
//! Every error says what happened, where (file and, for configuration, line
//! and key) and what to do about it.

use std::fmt;
use std::path::PathBuf;

/// The result type of sidik-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in sidik-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What sidik was doing ("read", "create folder", ...).
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `incident.toml` is missing, malformed or has an invalid value.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// A time, duration or timezone could not be understood.
    #[error("{0}")]
    Time(String),
    /// The evidence manifest is unreadable.
    #[error("evidence manifest {path} is not valid JSON: {message}; move it aside and re-run the steps that wrote it")]
    Manifest {
        /// Path of the manifest.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A problem with an `incident.toml`, located by file, line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column of the problem, when known.
    pub column: Option<usize>,
    /// Dotted key the problem is about (`incident.window.end`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
