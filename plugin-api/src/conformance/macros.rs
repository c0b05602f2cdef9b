//! [`conformance_tests!`](crate::conformance_tests): one `#[test]` per check, for provider crates.

use super::CHECK_NAMES;

/// Emits one `#[test]` per conformance check, named after it (`manifest_well_formed`,
/// `webhook_sample_parses`, ...), so `cargo test` lists each check and a failure names it. Each
/// test evaluates `$subject` (an expression giving a
/// [`Subject`](crate::conformance::Subject)) and runs its check alone with
/// [`assert_check`](crate::conformance::assert_check); with `--nocapture` it prints the result.
///
/// Invoke it once, at the top level of a test file of the provider's crate (this crate as a
/// dev-dependency with `features = ["conformance"]`):
///
/// ```ignore
/// plugin_api::conformance_tests!(subject());
/// ```
///
/// The macro holds its own list of the checks: if a check is added to the suite and not to that
/// list, every crate invoking the macro (this one's tests too) fails to compile, with a message
/// naming the macro.
#[macro_export]
macro_rules! conformance_tests {
    ($subject:expr $(,)?) => {
        $crate::conformance_tests! { @tests ($subject)
            manifest_well_formed
            config_invalid_reported
            config_valid_builds
            create_call_request_well_formed
            create_call_carries_call_id
            create_call_deterministic
            create_call_idempotency_key_stable
            create_call_response_success
            create_call_response_vendor_error
            create_call_response_garbage
            webhook_signed_sample_verifies
            webhook_tampered_body_rejected
            webhook_missing_signature_rejected
            webhook_verify_garbage_never_panics
            webhook_parse_garbage_never_panics
            webhook_parse_mutations_never_panic
            webhook_sample_parses
            webhook_parse_deterministic
        }
    };
    (@tests ($subject:expr) $($check:ident)+) => {
        const _: () = ::core::assert!(
            $crate::conformance::lists_every_check(&[$(::core::stringify!($check)),+]),
            "plugin_api::conformance_tests! does not list the conformance suite's checks \
             (CHECK_NAMES, in order)"
        );
        $(
            #[test]
            fn $check() {
                let result =
                    $crate::conformance::assert_check(&$subject, ::core::stringify!($check));
                ::std::println!("{result}");
            }
        )+
    };
}

/// True if `names` are [`CHECK_NAMES`], in order: [`conformance_tests!`] asserts it at compile
/// time.
///
/// [`conformance_tests!`]: crate::conformance_tests
#[doc(hidden)]
pub const fn lists_every_check(names: &[&str]) -> bool {
    if names.len() != CHECK_NAMES.len() {
        return false;
    }
    let mut index = 0;
    while index < names.len() {
        let (given, name) = (names[index].as_bytes(), CHECK_NAMES[index].as_bytes());
        if given.len() != name.len() {
            return false;
        }
        let mut byte = 0;
        while byte < name.len() {
            if given[byte] != name[byte] {
                return false;
            }
            byte += 1;
        }
        index += 1;
    }
    true
}
