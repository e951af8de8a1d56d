//! The bootstrap YAML an [`EnvoyBuilder`] renders: listener, filter chain and clusters.

use super::EnvoyBuilder;
use crate::free_port;
use std::fmt::Write as _;
use std::path::Path;

impl EnvoyBuilder {
    /// Renders the bootstrap YAML for the given listener and admin ports.
    pub fn render(&self, listener_port: u16, admin_port: u16) -> String {
        self.render_ports(listener_port, admin_port, 0)
    }

    /// As [`render`](Self::render), with the port of the second listener, if there is one
    /// ([`second_plugin`](Self::second_plugin)).
    pub fn render_ports(&self, listener_port: u16, admin_port: u16, second_port: u16) -> String {
        let wasm = self.wasm_path();
        let mut y = "# Rendered by tests/e2e (e2e::envoy::EnvoyBuilder).\nstatic_resources:\n  listeners:\n".to_string();
        let first = ("ingress", "tollgate", self.filter_config.as_str());
        listener(&mut y, self, listener_port, first, &wasm);
        if let Some((name, config)) = &self.second_plugin {
            listener(
                &mut y,
                self,
                second_port,
                ("ingress_2", name, config),
                &wasm,
            );
        }
        clusters_and_admin(&mut y, self, admin_port);
        y
    }
}

/// YAML/JSON double-quoted string literal.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn cluster(out: &mut String, name: &str, port: u16, trailers: bool) {
    let _ = write!(
        out,
        r#"  - name: {name}
    type: STATIC
    connect_timeout: 0.25s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {port} }}
"#,
        name = q(name)
    );
    if trailers {
        out.push_str(
            r#"    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http_protocol_options: { enable_trailers: true }
"#,
        );
    }
}

/// One front listener: HTTP connection manager, [jwt_authn], the wasm filter (`plugin`: the
/// listener's name, the plugin's name and its configuration), router.
fn listener(
    y: &mut String,
    b: &EnvoyBuilder,
    listener_port: u16,
    (listener, plugin, config): (&str, &str, &str),
    wasm: &Path,
) {
    let tls = match &b.tls {
        None => String::new(),
        Some((cert, key)) => format!(
            r#"transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{ filename: {} }}
              private_key: {{ filename: {} }}
      "#,
            q(&cert.to_string_lossy()),
            q(&key.to_string_lossy())
        ),
    };
    let normalize = b.normalize_paths;
    let http1 = if b.http1_trailers {
        "\n          http_protocol_options: { enable_trailers: true }"
    } else {
        ""
    };
    let ipv6 = if b.ipv6 {
        format!("\n    additional_addresses:\n    - address: {{ socket_address: {{ address: \"::1\", port_value: {listener_port} }} }}")
    } else {
        String::new()
    };
    let remote = b.use_remote_address;
    let mut extra = String::new();
    if !b.upgrades.is_empty() {
        extra.push_str("\n          upgrade_configs:");
        for u in &b.upgrades {
            let _ = write!(extra, "\n          - upgrade_type: {}", q(u));
        }
        extra.push_str("\n          http2_protocol_options: { allow_connect: true }");
    }
    if b.strip_any_host_port {
        extra.push_str("\n          strip_any_host_port: true");
    }
    let ignore_port = if b.ignore_port_in_host_matching {
        "\n            ignore_port_in_host_matching: true"
    } else {
        ""
    };
    let mut vhosts = String::new();
    for (i, (domains, cluster)) in b.virtual_hosts.iter().enumerate() {
        let domains: Vec<String> = domains.iter().map(|d| q(d)).collect();
        let _ = write!(
            vhosts,
            "\n            - name: vh{i}\n              domains: [{}]\n              routes:\n              - match: {{ prefix: \"/\" }}\n                route: {{ cluster: {}, timeout: 15s }}",
            domains.join(", "),
            q(cluster)
        );
    }
    let connect = if b.connect_route {
        "\n              - match: { connect_matcher: {} }\n                route: { cluster: upstream, timeout: 15s, upgrade_configs: [{ upgrade_type: CONNECT, connect_config: {} }] }"
    } else {
        ""
    };
    let _ = write!(
        y,
        r#"  - name: {listener}
    address:
      socket_address: {{ address: 127.0.0.1, port_value: {listener_port} }}{ipv6}
    filter_chains:
    - {tls}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {listener}_http
          codec_type: AUTO
          use_remote_address: {remote}
          normalize_path: {normalize}
          merge_slashes: {normalize}{http1}{extra}
          route_config:
            name: local_route{ignore_port}
            virtual_hosts:{vhosts}
            - name: all
              domains: ["*"]
              routes:{connect}
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream, timeout: 15s }}
          http_filters:
"#
    );
    if let Some(jwt_authn) = &b.jwt_authn {
        jwt_authn.render(y);
    }
    if b.filter {
        let code = match &b.wasm_remote {
            None => format!("local:\n                      filename: {}", q(&wasm.to_string_lossy())),
            Some((uri, cluster, sha256)) => format!(
                "remote:\n                      http_uri: {{ uri: {}, cluster: {}, timeout: 5s }}\n                      sha256: {}\n                      retry_policy: {{ num_retries: 0 }}",
                q(uri),
                q(cluster),
                q(sha256)
            ),
        };
        let _ = write!(
            y,
            r#"          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {plugin}
                root_id: tollgate
                vm_config:
                  vm_id: tollgate
                  runtime: envoy.wasm.runtime.v8
                  code:
                    {code}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {config}
                allow_on_headers_stop_iteration: {allow_stop}
                failure_policy: {policy}
"#,
            config = q(config),
            plugin = q(plugin),
            policy = b.failure_policy,
            allow_stop = !b.stop_all_iteration,
        );
    }
    y.push_str(
        r#"          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#,
    );
}

fn clusters_and_admin(y: &mut String, b: &EnvoyBuilder, admin_port: u16) {
    y.push_str("  clusters:\n");
    let upstream = b.upstream_port.unwrap_or_else(free_port);
    let backend = b.backend_port.unwrap_or_else(free_port);
    cluster(y, "upstream", upstream, b.upstream_trailers);
    cluster(y, "threescale_backend", backend, false);
    for (name, port) in &b.extra_clusters {
        cluster(y, name, *port, false);
    }
    let _ = write!(
        y,
        r#"admin:
  address:
    socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }}
"#
    );
}

#[cfg(test)]
mod tests {

    use crate::envoy::Envoy;

    #[test]
    fn render_quotes_config() {
        let y = Envoy::builder()
            .filter_config("{\"a\":\"x\\\"y\"}\n")
            .upstream_port(1)
            .backend_port(2)
            .extra_cluster("other", 3)
            .wasm("/w.wasm")
            .render(10, 11);
        assert!(y.contains(r#"value: "{\"a\":\"x\\\"y\"}\n""#), "{y}");
        assert!(y.contains("port_value: 3 "), "{y}");
        assert!(y.contains(r#"filename: "/w.wasm""#), "{y}");
        let y = Envoy::builder().without_filter().render(10, 11);
        assert!(!y.contains("envoy.filters.http.wasm"), "{y}");
    }

    #[test]
    fn a_second_plugin_is_a_second_listener_in_the_same_vm() {
        let plain = Envoy::builder().wasm("/w.wasm").render(10, 11);
        assert_eq!(plain.matches("vm_id: tollgate").count(), 1, "{plain}");
        assert!(!plain.contains("ingress_2"), "{plain}");
        let y = Envoy::builder()
            .wasm("/w.wasm")
            .filter_config("{\"a\":1}")
            .second_plugin("other", "{\"b\":2}")
            .render_ports(10, 11, 12);
        assert_eq!(y.matches("vm_id: tollgate").count(), 2, "{y}");
        assert!(y.contains("name: \"tollgate\""), "{y}");
        assert!(y.contains("name: \"other\""), "{y}");
        assert!(y.contains("port_value: 12 "), "{y}");
        assert!(y.contains("stat_prefix: ingress_2_http"), "{y}");
        let second = y.find("- name: ingress_2").unwrap();
        assert!(y[second..].contains(r#"value: "{\"b\":2}""#), "{y}");
        assert!(y.find(r#"value: "{\"a\":1}""#).unwrap() < second, "{y}");
    }

    #[test]
    fn ipv6_listener_and_remote_address_are_options() {
        let plain = Envoy::builder().wasm("/w.wasm").render(10, 11);
        assert!(!plain.contains("additional_addresses"), "{plain}");
        assert!(plain.contains("use_remote_address: false"), "{plain}");
        let y = Envoy::builder()
            .wasm("/w.wasm")
            .listener_ipv6()
            .use_remote_address()
            .render(10, 11);
        assert!(
            y.contains(r#"- address: { socket_address: { address: "::1", port_value: 10 } }"#),
            "{y}"
        );
        assert!(y.contains("use_remote_address: true"), "{y}");
    }

    #[test]
    fn jwt_authn_goes_before_the_wasm_filter() {
        use crate::envoy::{JwtAuthn, JwtRequirement};
        let jwks = serde_json::json!({"keys": []});
        let y = Envoy::builder()
            .jwt_authn(
                JwtAuthn::new(&jwks)
                    .issuer("https://idp")
                    .requirement(JwtRequirement::AllowMissing),
            )
            .wasm("/w.wasm")
            .render(10, 11);
        let jwt = y.find("envoy.filters.http.jwt_authn").unwrap();
        assert!(jwt < y.find("envoy.filters.http.wasm").unwrap(), "{y}");
        assert!(
            y.contains(r#"local_jwks: { inline_string: "{\"keys\":[]}" }"#),
            "{y}"
        );
        assert!(y.contains(r#"issuer: "https://idp""#), "{y}");
        assert!(y.contains("{ allow_missing: {} }"), "{y}");
        assert!(y.contains(r#"payload_in_metadata: "jwt_payload""#), "{y}");
        let plain = Envoy::builder().wasm("/w.wasm").render(10, 11);
        assert!(!plain.contains("jwt_authn"), "{plain}");
    }

    #[test]
    fn upgrades_connect_and_virtual_hosts_are_options() {
        let plain = Envoy::builder().wasm("/w.wasm").render(10, 11);
        for absent in ["upgrade_configs", "connect_matcher", "ignore_port", "vh0"] {
            assert!(!plain.contains(absent), "{absent}: {plain}");
        }
        let y = Envoy::builder()
            .wasm("/w.wasm")
            .upgrade("websocket")
            .connect_tunnel()
            .virtual_host(&["public.example.com"], "upstream_public")
            .ignore_port_in_host_matching()
            .render(10, 11);
        assert!(y.contains("- upgrade_type: \"websocket\"\n"), "{y}");
        assert!(y.contains("- upgrade_type: \"CONNECT\"\n"), "{y}");
        assert!(y.contains("allow_connect: true"), "{y}");
        assert!(y.contains("ignore_port_in_host_matching: true"), "{y}");
        let vh = y.find("domains: [\"public.example.com\"]").unwrap();
        let all = y.find("domains: [\"*\"]").unwrap();
        let connect = y.find("connect_matcher").unwrap();
        assert!(vh < all && all < connect, "{y}");
        assert!(y.contains("cluster: \"upstream_public\""), "{y}");
    }

    #[test]
    fn upstream_trailers_only_on_the_upstream_cluster() {
        let plain = Envoy::builder()
            .upstream_port(1)
            .backend_port(2)
            .wasm("/w.wasm")
            .render(10, 11);
        // Default: no trailers option anywhere.
        assert!(!plain.contains("enable_trailers"), "{plain}");
        let y = Envoy::builder()
            .upstream_port(1)
            .backend_port(2)
            .wasm("/w.wasm")
            .upstream_trailers()
            .render(10, 11);
        assert_eq!(y.matches("enable_trailers: true").count(), 1, "{y}");
        let upstream = y.find("- name: \"upstream\"").unwrap();
        let backend = y.find("- name: \"threescale_backend\"").unwrap();
        let option = y.find("explicit_http_config").unwrap();
        assert!(upstream < option && option < backend, "{y}");
        // With the listener's option too: one each.
        let both = Envoy::builder()
            .upstream_port(1)
            .backend_port(2)
            .wasm("/w.wasm")
            .http1_trailers()
            .upstream_trailers()
            .render(10, 11);
        assert_eq!(both.matches("enable_trailers: true").count(), 2, "{both}");
    }
}
