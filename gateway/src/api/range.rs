//! `Range` requests on a stored file (RFC 9110, section 14): one range of bytes.

/// What a `Range` header asks of a resource of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No range, or one the gateway ignores (another unit, several ranges, bad syntax): the
    /// whole resource, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part { start: u64, end: u64 },
    /// A valid range that no byte of the resource satisfies, 416.
    Unsatisfiable,
}

impl ByteRange {
    /// Reads `header` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) for a resource of `size` bytes.
    /// An end past the last byte is the last byte; a suffix longer than the resource is all of it.
    pub fn parse(header: Option<&str>, size: u64) -> Self {
        let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
            return Self::Whole;
        };
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Whole;
        };
        let number = |s: &str| -> Option<Option<u64>> {
            let s = s.trim();
            if s.is_empty() {
                Some(None)
            } else if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok().map(Some)
            } else {
                None
            }
        };
        let (Some(first), Some(last)) = (number(first), number(last)) else {
            return Self::Whole;
        };
        match (first, last) {
            (Some(start), last) => {
                if last.is_some_and(|last| last < start) {
                    Self::Whole
                } else if start >= size {
                    Self::Unsatisfiable
                } else {
                    let end = last.map_or(size - 1, |last| last.min(size - 1));
                    Self::Part { start, end }
                }
            }
            (None, Some(suffix)) => {
                if suffix == 0 || size == 0 {
                    Self::Unsatisfiable
                } else {
                    Self::Part {
                        start: size.saturating_sub(suffix),
                        end: size - 1,
                    }
                }
            }
            (None, None) => Self::Whole,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::{self, Part, Unsatisfiable, Whole};

    #[test]
    fn single_byte_ranges() {
        let parse = |header: &str| ByteRange::parse(Some(header), 1000);
        assert_eq!(ByteRange::parse(None, 1000), Whole);
        assert_eq!(parse("bytes=0-499"), Part { start: 0, end: 499 });
        assert_eq!(
            parse("bytes=500-999"),
            Part {
                start: 500,
                end: 999
            }
        );
        assert_eq!(
            parse("bytes=500-5000"),
            Part {
                start: 500,
                end: 999
            },
            "clamped"
        );
        assert_eq!(parse("bytes=7-7"), Part { start: 7, end: 7 });
        assert_eq!(
            parse("bytes=900-"),
            Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse("bytes=-100"),
            Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            parse("bytes=-5000"),
            Part { start: 0, end: 999 },
            "all of it"
        );
        assert_eq!(parse(" bytes= 10 - 20 "), Part { start: 10, end: 20 });
    }

    #[test]
    fn ranges_no_byte_satisfies() {
        let parse = |header: &str| ByteRange::parse(Some(header), 1000);
        assert_eq!(parse("bytes=1000-"), Unsatisfiable);
        assert_eq!(parse("bytes=1000-2000"), Unsatisfiable);
        assert_eq!(parse("bytes=-0"), Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(ByteRange::parse(Some("bytes=-1"), 0), Unsatisfiable);
    }

    #[test]
    fn ranges_it_ignores_are_the_whole_file() {
        let parse = |header: &str| ByteRange::parse(Some(header), 1000);
        for header in [
            "",
            "bytes",
            "items=0-10",
            "bytes=0-10,20-30",
            "bytes=10-5",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-2-3",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse(header), Whole, "{header:?}");
        }
    }
}
