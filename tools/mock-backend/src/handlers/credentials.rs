//! Provider credentials and service resolution (§2.1) and parameter
//! normalisation (§1.3).

use crate::model::{Service, State};
use crate::params::{Hash, Value};
use crate::response::ApiError;

/// §1.3 normalisation for `service_id`, `app_id`, `user_key`, `provider_key`:
/// non-strings and blank strings become `None`; the value is not stripped.
pub fn normalized(params: &Hash, key: &str) -> Option<String> {
    match params.get(key) {
        Some(Value::Str(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// §1.3 for `app_key`: stripped, and kept as `""` when empty.
pub fn normalized_app_key(params: &Hash) -> Option<String> {
    params.str("app_key").map(|s| s.trim().to_string())
}

/// The credentials of a request.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub provider_key: Option<String>,
    pub service_token: Option<String>,
    pub service_id: Option<String>,
}

impl Credentials {
    pub fn from_params(params: &Hash) -> Credentials {
        let service_token = match params.get("service_token") {
            Some(Value::Str(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        };
        Credentials {
            provider_key: normalized(params, "provider_key"),
            service_token,
            service_id: normalized(params, "service_id"),
        }
    }

    /// §2.1 steps 1–3 (checked before anything else about the request).
    pub fn check_early(&self, state: &State) -> Result<(), ApiError> {
        if self.provider_key.is_some() {
            return Ok(());
        }
        let Some(token) = &self.service_token else {
            return Err(ApiError::new(
                403,
                "provider_key_or_service_token_required",
                "Provider key or service token are required",
            ));
        };
        let Some(sid) = &self.service_id else {
            return Err(ApiError::new(
                422,
                "service_id_missing",
                "Service ID is missing",
            ));
        };
        let valid = state
            .find_service(sid)
            .is_some_and(|s| s.tokens.iter().any(|t| t == token));
        if valid {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "service_token_invalid",
                format!(r#"service token "{token}" or service id "{sid}" is invalid"#),
            ))
        }
    }

    /// §2.1 steps 4–6: the service the request is about. Call after `check_early`.
    pub fn resolve<'s>(&self, state: &'s State) -> Result<&'s Service, ApiError> {
        let Some(pk) = &self.provider_key else {
            let sid = self.service_id.as_deref().unwrap_or_default();
            return state
                .find_service(sid)
                .ok_or_else(|| service_id_invalid(sid));
        };
        let Some(sid) = &self.service_id else {
            return state.default_service(pk).ok_or_else(|| {
                ApiError::new(
                    403,
                    "provider_key_invalid_or_service_missing",
                    format!(r#"provider key "{pk}" invalid and/or service ID missing"#),
                )
            });
        };
        // Quirk: "foo-1001" resolves service 1001 (the last dash-separated part is tried first).
        let last = sid.rsplit('-').next().unwrap_or(sid);
        let service = state
            .find_service(last)
            .or_else(|| state.find_service(sid))
            .ok_or_else(|| service_id_invalid(sid))?;
        if service.provider_key.as_deref() == Some(pk.as_str()) {
            Ok(service)
        } else if state.default_service(pk).is_none() {
            Err(ApiError::new(
                403,
                "provider_key_invalid",
                format!(r#"provider key "{pk}" is invalid"#),
            ))
        } else {
            Err(service_id_invalid(sid))
        }
    }
}

fn service_id_invalid(sid: &str) -> ApiError {
    ApiError::new(
        403,
        "service_id_invalid",
        format!(r#"service id "{sid}" is invalid"#),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_nested;

    fn creds(qs: &str) -> Credentials {
        Credentials::from_params(&parse_nested(qs).unwrap().params)
    }

    fn state() -> State {
        State::new()
            .service(Service::new("1001").token("tok").provider_key("pk"))
            .service(Service::new("2002").provider_key("other"))
    }

    #[test]
    fn precedence() {
        let st = state();
        assert_eq!(
            creds("").check_early(&st).unwrap_err().code,
            "provider_key_or_service_token_required"
        );
        assert_eq!(
            creds("service_token=tok")
                .check_early(&st)
                .unwrap_err()
                .status,
            422
        );
        let e = creds("service_token=wrong&service_id=1001")
            .check_early(&st)
            .unwrap_err();
        assert_eq!(
            e.message,
            r#"service token "wrong" or service id "1001" is invalid"#
        );
        assert!(creds("service_token=tok&service_id=1001")
            .check_early(&st)
            .is_ok());
        assert_eq!(creds("provider_key=pk").resolve(&st).unwrap().id, "1001");
        assert_eq!(
            creds("provider_key=pk&service_id=foo-1001")
                .resolve(&st)
                .unwrap()
                .id,
            "1001"
        );
        assert_eq!(
            creds("provider_key=nope").resolve(&st).unwrap_err().code,
            "provider_key_invalid_or_service_missing"
        );
        assert_eq!(
            creds("provider_key=nope&service_id=1001")
                .resolve(&st)
                .unwrap_err()
                .code,
            "provider_key_invalid"
        );
        assert_eq!(
            creds("provider_key=pk&service_id=2002")
                .resolve(&st)
                .unwrap_err()
                .code,
            "service_id_invalid"
        );
        assert_eq!(
            creds("provider_key=pk&service_id=9999")
                .resolve(&st)
                .unwrap_err()
                .message,
            r#"service id "9999" is invalid"#
        );
    }
}
