//! `tollgate-mock-backend`: a faithful mock of the 3scale Service Management
//! API ("apisonator"), per `shared/reference/3scale-backend-protocol.md`.
//!
//! ```no_run
//! use mock_backend::{App, MockBackend, Period, Service, State};
//! let state = State::new()
//!     .service(Service::new("42").token("svc-token").backend_version("1")
//!         .metric("hits", None).metric("get_foo", Some("hits")))
//!     .app(App::new("42", "app1").user_key("uk-1").plan("Basic").limit("hits", Period::Minute, 50));
//! let backend = MockBackend::start(state).unwrap();
//! println!("listening on {}", backend.url());
//! ```

pub mod admin;
pub mod counters;
pub mod handlers;
pub mod model;
pub mod params;
pub mod periods;
pub mod request;
pub mod response;
pub mod server;
pub mod xml;

pub use admin::Stats;
pub use counters::UsageValue;
pub use handlers::report::ReportError;
pub use model::{App, Limit, Logged, Metric, Service, State};
pub use periods::Period;
pub use request::ReceivedRequest;
pub use response::Response;
pub use server::{MockBackend, Mode, HANG_LIMIT};
