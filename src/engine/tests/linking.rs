//! Planner tests of linking and creating: new records linked by e-mail then phone, ambiguous
//! keys skipped, links rebuilt from recorded ids, counterparts created where allowed and never
//! for tombstoned records, and key linking agreeing with the full plan. Must never do I/O.

use super::*;

#[test]
fn new_records_link_by_email_and_one_way_ids_fill_in() {
    let h = hs("5", 1, &[("email", " Ann@X.co "), ("firstname", "Ann")]);
    let g = gs(
        9,
        1,
        json!({"email": "ann@x.co", "name": "Ann", "channels": []}),
    );
    let p = run(&[h], &[g], &[], &map());
    assert_eq!(
        p.links,
        vec![NewLink {
            hubspot_id: hid("5"),
            gorgias_id: gid(9),
            matched_by: MatchKind::Email,
            key: "ann@x.co".into()
        }]
    );
    assert_eq!(
        p.hubspot_updates[0].properties,
        BTreeMap::from([("tether_gorgias_id".to_string(), "9".to_string())])
    );
    assert_eq!(
        Value::Object(p.gorgias_updates[0].fields.clone()),
        json!({"external_id": "5"})
    );
    assert!(
        p.base_updates
            .iter()
            .any(|b| b.field == "name" && b.value.as_deref() == Some("Ann"))
    );
    assert!(
        p.changes.iter().all(|c| !c.overwrites),
        "filling empty values is not an overwrite"
    );
}

#[test]
fn ambiguous_emails_are_skipped_and_phones_link_second() {
    let a = hs("1", 1, &[("email", "dup@x.co")]);
    let b = hs("2", 1, &[("email", "dup@x.co")]);
    let c = hs("3", 1, &[("phone", "+14155552671")]);
    let g1 = gs(1, 1, json!({"email": "dup@x.co", "channels": []}));
    let g2 = gs(
        2,
        1,
        json!({"email": "z@x.co", "channels": [{"type": "phone", "address": "+1 415 555 2671", "preferred": true}]}),
    );
    let p = run(&[a, b, c], &[g1, g2], &[], &map());
    assert_eq!(p.links.len(), 1);
    assert_eq!(
        (p.links[0].hubspot_id.as_str(), p.links[0].matched_by),
        ("3", MatchKind::Phone)
    );
    let amb: Vec<_> = p
        .skips
        .iter()
        .filter(|s| s.code == SkipCode::AmbiguousMatch)
        .collect();
    assert_eq!(amb.len(), 3);
    assert!(
        p.gorgias_creates.is_empty() && p.hubspot_creates.is_empty(),
        "never guess, never create a duplicate"
    );
}

#[test]
fn recorded_ids_rebuild_links_when_the_store_is_lost() {
    let h = hs("5", 1, &[("email", "old@x.co"), ("tether_gorgias_id", "9")]);
    let g = gs(
        9,
        1,
        json!({"email": "new@x.co", "external_id": "5", "channels": []}),
    );
    let p = run(&[h], &[g], &[], &map());
    assert_eq!(p.links[0].matched_by, MatchKind::RecordedId);
}

#[test]
fn unmatched_records_get_counterparts_where_allowed() {
    let h = hs(
        "5",
        1,
        &[
            ("email", "ann@x.co"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "4155552671"),
            ("lifecyclestage", "customer"),
        ],
    );
    let g = gs(
        9,
        1,
        json!({"email": "bob@x.co", "name": "Bob Ray", "channels": [], "data": {"tether": {"stage": "Lead"}}}),
    );
    let nomail = hs("6", 1, &[("firstname", "X")]);
    let p = run(&[h, nomail], &[g], &[], &map());
    let [gc] = p.gorgias_creates.as_slice() else {
        panic!("{p:#?}")
    };
    assert_eq!(gc.from_hubspot.as_str(), "5");
    assert_eq!(
        Value::Object(gc.fields.clone()),
        json!({"email": "ann@x.co", "name": "Ann Lee", "external_id": "5",
        "channels": [{"type": "email", "address": "ann@x.co", "preferred": true}, {"type": "phone", "address": "+14155552671", "preferred": true}]})
    );
    assert_eq!(gc.data, Some(json!({"tether": {"stage": "Customer"}})));
    let [hc] = p.hubspot_creates.as_slice() else {
        panic!()
    };
    assert_eq!(
        hc.properties,
        BTreeMap::from([
            ("email".to_string(), "bob@x.co".to_string()),
            ("firstname".to_string(), "Bob".to_string()),
            ("lastname".to_string(), "Ray".to_string()),
            ("lifecyclestage".to_string(), "lead".to_string()),
            ("tether_gorgias_id".to_string(), "9".to_string())
        ])
    );
    assert_eq!(hc.bases.get("name"), Some(&Some("Bob Ray".to_owned())));
    assert!(
        p.skips
            .iter()
            .any(|s| s.hubspot_id == Some(hid("6")) && s.code == SkipCode::NoEmailForCreate)
    );

    let off = parse_str(
        "t.toml",
        &MAP.replace("create_in_gorgias = true", "create_in_gorgias = false"),
    )
    .unwrap();
    let p = run(&[hs("5", 1, &[("email", "ann@x.co")])], &[], &[], &off);
    assert!(p.gorgias_creates.is_empty());
    assert_eq!(p.skips[0].code, SkipCode::CreateDisabled);
}

#[test]
fn tombstoned_and_missing_records_are_never_recreated() {
    let (h, g, l) = agreed_pair();
    let p = run(
        std::slice::from_ref(&h),
        &[],
        std::slice::from_ref(&l),
        &map(),
    );
    assert!(!p.has_writes());
    assert_eq!(p.skips[0].code, SkipCode::CounterpartMissing);
    let mut ex = Excluded::default();
    ex.gorgias.insert(gid(7));
    ex.hubspot.insert(hid("200"));
    let orphan = hs("200", 1, &[("email", "orphan@x.co")]);
    let p = run_with(
        &[h, orphan],
        &[g],
        &[l],
        &map(),
        &ex,
        &[],
        &Options::default(),
    );
    assert!(!p.has_writes(), "{p:#?}");
    assert_eq!(
        p.skips
            .iter()
            .filter(|s| s.code == SkipCode::Excluded)
            .count(),
        2
    );
}

#[test]
fn key_linking_matches_the_single_plan() {
    // Linking by keys alone gives the same links and unmatched records as a full plan.
    let m = map();
    let h = vec![
        hs("1", 1, &[("email", "A@x.co")]),
        hs("2", 1, &[("email", "b@x.co"), ("tether_gorgias_id", "30")]),
        hs("3", 1, &[("email", "dup@x.co")]),
        hs("4", 1, &[("email", "dup@x.co")]),
        hs("5", 1, &[("email", "solo@x.co")]),
    ];
    let g = vec![
        gs(10, 1, json!({"email": "a@x.co", "channels": []})),
        gs(
            30,
            1,
            json!({"email": "changed@x.co", "external_id": "2", "channels": []}),
        ),
        gs(40, 1, json!({"email": "only@x.co", "channels": []})),
    ];
    let mut ex = Excluded::default();
    ex.hubspot.insert(hid("5"));
    let o = Options::default();
    let reader = KeyReader::new(&m, &o, &ex);
    let (hk, hskips): (Vec<_>, Vec<_>) =
        h.iter().map(|r| reader.hubspot(r)).partition(Result::is_ok);
    let gk: Vec<GorgiasKeys> = g.iter().map(|r| reader.gorgias(r).unwrap()).collect();
    let hk: Vec<HubspotKeys> = hk.into_iter().map(Result::unwrap).collect();
    assert_eq!(hskips.len(), 1, "excluded record has no keys");
    let k = link_keys(&hk, &gk, &Default::default());
    let full = run_with(&h, &g, &[], &m, &ex, &[], &o);
    assert_eq!(k.links, full.links);
    assert_eq!(k.links.len(), 2);
    assert_eq!(k.unmatched_gorgias, vec![gid(40)]);
    assert!(k.unmatched_hubspot.is_empty());
    assert_eq!(
        k.skips
            .iter()
            .filter(|s| s.code == SkipCode::AmbiguousMatch)
            .count(),
        2
    );
}
