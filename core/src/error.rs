//! The one error type of anyctr: a stable [`ErrorKind`] to match on, the context an agent needs
//! to act on it (engine, operation, container) and the engine's own error as a boxed source.

use std::fmt;

/// What went wrong, independent of the engine. Callers match on this; the message and source
/// carry the engine's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The container, exec, image or path does not exist.
    NotFound,
    /// The engine (or this container's runtime) cannot do the operation at all.
    Unsupported,
    /// The caller lacks the rights (socket permission, file mode, …).
    PermissionDenied,
    /// The engine is not reachable: no socket, nobody answering, connection broken.
    EngineUnavailable,
    /// A bounded wait ran out.
    Timeout,
    /// The request itself is wrong (bad address, ambiguous id prefix, relative path, …).
    /// Nothing was changed.
    InvalidArgument,
    /// The operation conflicts with the container's state (exec in a stopped container,
    /// name already in use, …).
    Conflict,
    /// The program an exec asked for does not exist in the container (or is not executable).
    CommandNotFound,
    /// Anything else; the source says what.
    Unexpected,
}

impl ErrorKind {
    /// A stable lower-case name, used in messages and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::EngineUnavailable => "engine unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Conflict => "conflict",
            ErrorKind::CommandNotFound => "command not found",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An anyctr error: kind, message, context and optional source.
///
/// Built with the kind constructors and the `with_*` context setters:
/// `Error::not_found("no such container").with_engine("docker").with_container(id)`.
pub struct Error {
    kind: ErrorKind,
    message: String,
    engine: Option<String>,
    operation: Option<&'static str>,
    container: Option<String>,
    source: Option<BoxError>,
    /// The message already says what the source says (a daemon's words quoted): the source is kept
    /// for [`std::error::Error::source`] and [`Error::source_as`], but not printed again.
    source_quoted: bool,
}

/// The result type of every fallible anyctr call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            engine: None,
            operation: None,
            container: None,
            source: None,
            source_quoted: false,
        }
    }

    /// `NotFound` with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// `InvalidArgument` with a message.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// `Unexpected` with a message.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }

    /// `Unsupported`, naming the engine and the operation it lacks.
    pub fn unsupported(engine: &str, operation: &'static str) -> Self {
        Self::new(ErrorKind::Unsupported, format!("engine `{engine}` does not support `{operation}`"))
            .with_engine(engine)
            .with_operation(operation)
    }

    /// `Timeout` after `after`, for `operation`.
    pub fn timeout(operation: &'static str, after: std::time::Duration) -> Self {
        Self::new(ErrorKind::Timeout, format!("`{operation}` did not finish within {after:?}"))
            .with_operation(operation)
    }

    /// Sets the engine name (e.g. `docker`).
    pub fn with_engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = Some(engine.into());
        self
    }

    /// Sets the operation (e.g. `exec`).
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Sets the container id or name the operation was about.
    pub fn with_container(mut self, container: impl Into<String>) -> Self {
        self.container = Some(container.into());
        self
    }

    /// Sets the underlying cause. Display prints its words after the message unless the message
    /// already holds them.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self.source_quoted = false;
        self
    }

    /// Sets the underlying cause whose words the message already quotes (a daemon's answer put
    /// into the message): kept for matching and downcasting, not printed a second time.
    pub fn with_quoted_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self.source_quoted = true;
        self
    }

    /// The context of the call the caller made: the operation is always set to `operation` (an
    /// inner step such as the `inspect` behind an `exec` is not what the caller asked for), the
    /// engine only where it is not already known.
    pub fn in_context(mut self, engine: &str, operation: &'static str) -> Self {
        if self.engine.is_none() {
            self.engine = Some(engine.to_owned());
        }
        self.operation = Some(operation);
        self
    }

    /// The kind to match on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The engine the error came from, if known.
    pub fn engine(&self) -> Option<&str> {
        self.engine.as_deref()
    }

    /// The operation that failed, if known.
    pub fn operation(&self) -> Option<&'static str> {
        self.operation
    }

    /// The container the operation was about, if any.
    pub fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }

    /// Downcasts the source to an engine-specific error type.
    pub fn source_as<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.as_deref().and_then(|s| s.downcast_ref::<E>())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        let mut ctx = Vec::new();
        if let Some(e) = &self.engine {
            ctx.push(format!("engine={e}"));
        }
        if let Some(o) = &self.operation {
            ctx.push(format!("operation={o}"));
        }
        if let Some(c) = &self.container {
            ctx.push(format!("container={c}"));
        }
        if !ctx.is_empty() {
            write!(f, " [{}]", ctx.join(", "))?;
        }
        // The causes, each by its own words only (an anyctr cause without its kind and context,
        // which the outer error already gives) and only when they say something not yet said.
        let mut said = self.message.clone();
        let mut next = if self.source_quoted { None } else { self.source.as_deref().map(|s| s as &StdError) };
        while let Some(cause) = next {
            let (words, further) = match cause.downcast_ref::<Error>() {
                Some(inner) => (
                    inner.message.clone(),
                    if inner.source_quoted { None } else { inner.source.as_deref().map(|s| s as &StdError) },
                ),
                None => (cause.to_string(), cause.source()),
            };
            let words = words.trim();
            if !words.is_empty() && !said.contains(words) {
                write!(f, ": {words}")?;
                said.push_str(words);
            }
            next = further;
        }
        Ok(())
    }
}

type StdError = dyn std::error::Error + 'static;

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

impl From<std::io::Error> for Error {
    /// Maps the io error kinds that have an anyctr meaning; the io error stays the source.
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied => ErrorKind::PermissionDenied,
            Io::TimedOut => ErrorKind::Timeout,
            Io::InvalidInput | Io::InvalidData => ErrorKind::InvalidArgument,
            Io::ConnectionRefused | Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::NotConnected => {
                ErrorKind::EngineUnavailable
            }
            Io::AlreadyExists => ErrorKind::Conflict,
            _ => ErrorKind::Unexpected,
        };
        Error::new(kind, err.to_string()).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_kind_message_and_context() {
        let e = Error::not_found("no such container: abc")
            .with_engine("docker")
            .with_operation("inspect")
            .with_container("abc");
        assert_eq!(
            e.to_string(),
            "not found: no such container: abc [engine=docker, operation=inspect, container=abc]"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.engine(), Some("docker"));
        assert_eq!(e.operation(), Some("inspect"));
        assert_eq!(e.container(), Some("abc"));
    }

    #[test]
    fn unsupported_names_engine_and_operation() {
        let e = Error::unsupported("pouch", "events");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("`pouch`") && e.to_string().contains("`events`"), "{e}");
    }

    #[test]
    fn in_context_names_the_callers_operation_and_keeps_the_engine() {
        let e = Error::unexpected("x").with_operation("inspect").in_context("docker", "exec");
        assert_eq!(e.operation(), Some("exec"));
        assert_eq!(e.engine(), Some("docker"));
        let e = Error::unexpected("x").with_engine("docker").in_context("containerd", "exec");
        assert_eq!(e.engine(), Some("docker"));
    }

    #[test]
    fn display_gives_one_context_and_the_daemons_words_once() {
        // What docker's failed exec on an unknown container used to print twice.
        let daemon = Error::not_found("dockerd answered 404: No such container: nope")
            .with_engine("docker")
            .with_operation("inspect")
            .with_container("nope");
        let e = Error::not_found("no container with id, id prefix or name \"nope\"")
            .with_source(daemon)
            .in_context("docker", "exec")
            .with_container("nope");
        let text = e.to_string();
        assert_eq!(
            text,
            "not found: no container with id, id prefix or name \"nope\" [engine=docker, operation=exec, \
             container=nope]: dockerd answered 404: No such container: nope"
        );
        assert_eq!(text.matches("engine=").count(), 1, "{text}");
        assert_eq!(text.matches("No such container").count(), 1, "{text}");
        assert!(!text.contains("inspect"), "{text}");
    }

    #[test]
    fn display_skips_a_cause_the_message_already_holds() {
        let io = std::io::Error::other("No such container: x");
        let e = Error::not_found("dockerd answered 404: No such container: x").with_source(io);
        assert_eq!(e.to_string(), "not found: dockerd answered 404: No such container: x");
        let io = std::io::Error::other("connection reset");
        let e = Error::new(ErrorKind::EngineUnavailable, "reading the answer failed").with_source(io);
        assert_eq!(e.to_string(), "engine unavailable: reading the answer failed: connection reset");
    }

    #[test]
    fn a_quoted_source_is_kept_but_not_printed() {
        let io = std::io::Error::other("status: NotFound, message: \"task x not found\"");
        let e = Error::not_found("task x not found").with_quoted_source(io).with_engine("containerd");
        assert_eq!(e.to_string(), "not found: task x not found [engine=containerd]");
        assert!(e.source_as::<std::io::Error>().is_some());
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn io_errors_map_to_kinds_and_keep_source() {
        let cases = [
            (std::io::ErrorKind::NotFound, ErrorKind::NotFound),
            (std::io::ErrorKind::PermissionDenied, ErrorKind::PermissionDenied),
            (std::io::ErrorKind::ConnectionRefused, ErrorKind::EngineUnavailable),
            (std::io::ErrorKind::TimedOut, ErrorKind::Timeout),
            (std::io::ErrorKind::AlreadyExists, ErrorKind::Conflict),
            (std::io::ErrorKind::Other, ErrorKind::Unexpected),
        ];
        for (io, want) in cases {
            let e: Error = std::io::Error::new(io, "boom").into();
            assert_eq!(e.kind(), want, "{io:?}");
            assert!(e.source_as::<std::io::Error>().is_some());
        }
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let all = [
            ErrorKind::NotFound,
            ErrorKind::Unsupported,
            ErrorKind::PermissionDenied,
            ErrorKind::EngineUnavailable,
            ErrorKind::Timeout,
            ErrorKind::InvalidArgument,
            ErrorKind::Conflict,
            ErrorKind::CommandNotFound,
            ErrorKind::Unexpected,
        ];
        let names: std::collections::BTreeSet<_> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
    }
}
