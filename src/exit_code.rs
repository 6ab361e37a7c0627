//! Exit codes, in one place. The README's table repeats them: keep the two in step.

/// Everything asked for was done.
pub const SUCCESS: i32 = 0;
/// Something failed that has no code of its own (an unexpected answer from an AWS API).
pub const FAILURE: i32 = 1;
/// The command line is wrong: an unknown flag, a missing value, or a value that fails
/// validation (a bad container name or image URI). clap uses 2 for its own errors too.
pub const USAGE: i32 = 2;
/// An input file is missing or invalid (build record, task definition template), or the
/// inputs do not fit the request (an ambiguous container, a digest that is not known).
pub const INPUT: i32 = 3;
/// An output could not be written. Nothing was changed.
pub const OUTPUT: i32 = 4;
/// AWS or the registry refused: no credentials found, credentials rejected, access denied
/// (`ecr:GetAuthorizationToken`), or the registry answered 401 to the token.
pub const CREDENTIALS: i32 = 5;
/// The ECR API or the registry could not be reached, or ECR kept throttling or failing
/// (HTTP 5xx) through the SDK's retries. Retrying later may help.
pub const UNREACHABLE: i32 = 6;
/// The image build failed: a Dockerfile step, or the platform of the result.
pub const BUILD: i32 = 7;
/// Pushing, verifying or tagging in the registry failed, or an immutable tag is taken.
pub const PUSH: i32 = 8;
/// No Docker daemon answered, it went away (stopped or restarted) during a build or push, or it
/// failed outside the build itself.
pub const DAEMON: i32 = 9;
/// `run`: the build ran and did not succeed (a phase or UPLOAD_ARTIFACTS failed). An invalid
/// buildspec, which fails DOWNLOAD_SOURCE before any phase, exits 3; a build stopped by
/// SIGINT or SIGTERM exits 130 or 143.
pub const BUILD_FAILED: i32 = 10;

/// Stopped by a signal: 128 + its number, as a shell reports a command it killed, so SIGINT
/// gives 130 and SIGTERM 143. `run` and `build-push` both end this way, after cancelling their
/// work.
pub fn stopped_by(signal: i32) -> i32 {
    128 + signal
}
