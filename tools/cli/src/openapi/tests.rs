//! Unit tests of the pieces the document is assembled from.

use super::paths::template;
use super::schemes::{role_choices, scheme_prefix};

#[test]
fn templates() {
    assert_eq!(
        template("/foo//{id}/bar$"),
        ("/foo/{id}/bar".to_string(), vec!["id".to_string()])
    );
    assert_eq!(
        template("/a/{x}.{fmt}?q={v}"),
        ("/a/{x}.{fmt}".to_string(), vec!["x".into(), "fmt".into()])
    );
    assert_eq!(
        template("/a/{id}/b/{id}"),
        (
            "/a/{id}/b/{id_2}".to_string(),
            vec!["id".into(), "id_2".into()]
        )
    );
    assert_eq!(template("/a{}/b{"), ("/a{}/b{".to_string(), vec![]));
    assert_eq!(template("/é/{ü}"), ("/é/{ü}".to_string(), vec!["ü".into()]));
}

#[test]
fn roles_combine_as_and_of_or() {
    let sets = vec![
        vec!["a".to_string(), "b".to_string()],
        vec!["c".to_string()],
    ];
    assert_eq!(
        role_choices(&sets).unwrap(),
        vec![
            vec!["a".to_string(), "c".to_string()],
            vec!["b".to_string(), "c".to_string()]
        ]
    );
    assert_eq!(role_choices(&[]).unwrap(), vec![Vec::<String>::new()]);
}

#[test]
fn prefixes_are_unique_and_clean() {
    assert_eq!(scheme_prefix("42", &[]), "svc42");
    assert_eq!(scheme_prefix("a b", &["svca_b".to_string()]), "svca_b_2");
}
