//! Status model tests.
use super::*;
use EdgeState::{Applied, Errored, Ignored, Unknown};

#[test]
fn edge_event_rules_in_order() {
    let table: [(&[EdgeState], Option<EventType>); 10] = [
        (&[], None),
        (&[Errored, Applied], Some(EventType::XcpErrored)),
        (&[Errored, Ignored], Some(EventType::XcpErrored)),
        (&[Ignored, Ignored], Some(EventType::XcpIgnored)),
        (&[Applied, Applied], Some(EventType::XcpApplied)),
        (&[Unknown, Unknown], Some(EventType::XcpUnknown)),
        (&[Applied, Unknown], Some(EventType::XcpPartiallyApplied)),
        (&[Applied, Ignored], Some(EventType::XcpPartiallyApplied)),
        (
            &[Applied, Unknown, Ignored],
            Some(EventType::XcpPartiallyApplied),
        ),
        (&[Ignored, Unknown], Some(EventType::XcpUnknown)),
    ];
    for (states, want) in table {
        assert_eq!(edge_event(states.iter().copied()), want, "{states:?}");
    }
}

#[test]
fn event_to_status_table() {
    let config = TypeInfo::of(Kind::IngressGateway);
    let table = [
        (EventType::TsbAccepted, MpStatus::Accepted),
        (EventType::MpcAccepted, MpStatus::Accepted),
        (EventType::XcpAccepted, MpStatus::Accepted),
        (EventType::XcpUnknown, MpStatus::Accepted),
        (EventType::XcpPartiallyApplied, MpStatus::Accepted),
        (EventType::XcpApplied, MpStatus::Ready),
        (EventType::XcpRejected, MpStatus::Failed),
        (EventType::MpcFailed, MpStatus::Failed),
        (EventType::XcpErrored, MpStatus::Failed),
        (EventType::XcpIgnored, MpStatus::Failed),
        (EventType::MpcDirty, MpStatus::Dirty),
    ];
    for (event, want) in table {
        assert_eq!(status_for_event(event, config), want, "{event:?}");
    }
    // A Tenant is READY as soon as it is stored (Example 1).
    let tenant = TypeInfo::of(Kind::Tenant);
    assert_eq!(
        status_for_event(EventType::TsbAccepted, tenant),
        MpStatus::Ready
    );
    let fast = TypeInfo {
        last_event_xcp_accepted: true,
        ..config
    };
    assert_eq!(
        status_for_event(EventType::XcpAccepted, fast),
        MpStatus::Ready
    );
    assert_eq!(EventType::MpcDirty.number(), 11);
    assert_eq!(MpStatus::Partial.number(), 5);
}

fn edges(states: &[(&str, EdgeState)]) -> BTreeMap<String, EdgeState> {
    states.iter().map(|(c, s)| (c.to_string(), *s)).collect()
}

#[test]
fn resource_status_pipeline() {
    let info = TypeInfo::of(Kind::IngressGateway);
    let none = BTreeMap::new();
    // Documented worked example: XCP_REJECTED with a DNS-1123 message → FAILED.
    let rejected = resource_status(
        info,
        PipelineStage::TranslationFailed,
        &none,
        false,
        "INVALID-96010ce1d9b7df5c is not a DNS-1123 subdomain",
    );
    assert_eq!(rejected.status, MpStatus::Failed);
    assert_eq!(rejected.last_event, EventType::XcpRejected);
    // No target cluster: ACCEPTED with the documented message.
    let idle = resource_status(info, PipelineStage::Translated, &none, false, "");
    assert_eq!(
        (idle.status, idle.last_event, idle.message.as_str()),
        (
            MpStatus::Accepted,
            EventType::XcpAccepted,
            NO_CLUSTER_SELECTED
        )
    );
    let partial = edges(&[("eu-1", Applied), ("us-1", Unknown)]);
    let s = resource_status(info, PipelineStage::Translated, &partial, false, "");
    assert_eq!(s.status, MpStatus::Accepted);
    assert_eq!(s.message, "applied in 1 of 2 clusters");
    let all = edges(&[("eu-1", Applied), ("us-1", Applied)]);
    assert_eq!(
        resource_status(info, PipelineStage::Translated, &all, false, "").status,
        MpStatus::Ready
    );
    // STRICTER supersession → DIRTY, unless an edge errored.
    let dirty = resource_status(info, PipelineStage::Translated, &all, true, "");
    assert_eq!(
        (dirty.status, dirty.last_event),
        (MpStatus::Dirty, EventType::MpcDirty)
    );
    let broken = edges(&[("eu-1", Errored), ("us-1", Applied)]);
    let s = resource_status(info, PipelineStage::Translated, &broken, true, "");
    assert_eq!(s.status, MpStatus::Failed);
    assert!(s.message.contains("eu-1"));
}

#[test]
fn aggregation() {
    use MpStatus::*;
    assert_eq!(children_status([Ready, Ready]), Some(Ready));
    assert_eq!(children_status([Ready, Accepted, Dirty]), Some(Dirty));
    assert_eq!(children_status([Partial, Failed, Dirty]), Some(Failed));
    assert_eq!(children_status([Invalid, Failed]), Some(Invalid));
    assert_eq!(children_status(Vec::new()), None);
    assert_eq!(aggregate_status(Accepted, Vec::new()), Accepted);
    assert_eq!(aggregate_status(Ready, [Ready, Ready]), Ready);
    assert_eq!(aggregate_status(Accepted, [Accepted, Ready]), Partial);
    // A parent that produces nothing takes its children's status (the old reading kept its
    // own ACCEPTED and showed PARTIAL).
    assert_eq!(aggregate_status(Accepted, [Ready, Ready]), Ready);
    assert_eq!(aggregate_status(Ready, [Ready, Failed, Accepted]), Failed);
    assert_eq!(aggregate_status(Ready, [Ready, Dirty]), Dirty);
    assert_eq!(aggregate_status(Ready, [Partial, Ready]), Partial);
    assert!(Kind::GatewayGroup.aggregates_status());
    assert!(!Kind::IngressGateway.aggregates_status());
}

fn accepted(applied: u32, targeted: u32, status: MpStatus, event: EventType) -> PushState {
    PushState::Accepted(TsbStatus {
        fqn: "organizations/acme/tenants/payments/workspaces/checkout-ws".into(),
        etag: "\"hhO8m7WN3LM=\"".into(),
        status,
        last_event: event,
        clusters: ClusterCounts { applied, targeted },
    })
}

fn find(status: &CrStatus, t: ConditionType) -> Option<&Condition> {
    status.conditions.iter().find(|c| c.type_ == t)
}

/// Invariants (a)–(e) of R-A3.
fn assert_invariants(status: &CrStatus, generation: i64) {
    let ready = find(status, ConditionType::Ready).expect("Ready is always present");
    let reconciling = find(status, ConditionType::Reconciling);
    let stalled = find(status, ConditionType::Stalled);
    assert_ne!(ready.status, ConditionStatus::Unknown, "(d)");
    for c in [reconciling, stalled].into_iter().flatten() {
        assert_eq!(
            c.status,
            ConditionStatus::True,
            "(e) never written as False"
        );
    }
    match ready.status {
        ConditionStatus::True => assert!(reconciling.is_none() && stalled.is_none(), "(a)"),
        _ => {
            let active: Vec<&Condition> = [reconciling, stalled].into_iter().flatten().collect();
            assert_eq!(active.len(), 1, "(b)/(c)");
            assert_eq!(ready.reason, active[0].reason, "(b) reason copied");
            assert_eq!(ready.message, active[0].message, "(b) message copied");
        }
    }
    assert_eq!(status.observed_generation, generation);
    for c in &status.conditions {
        assert_eq!(c.observed_generation, generation, "R-A4");
        assert!(!c.message.contains('\n') && c.message.chars().count() <= 256);
    }
}

#[test]
fn invariants_hold_for_every_state_sequence() {
    let mut states: Vec<PushState> = Reason::ALL
        .iter()
        .map(|r| PushState::NotAccepted {
            reason: *r,
            message: format!("spec.x: problem {r}\nsecond line"),
        })
        .collect();
    states.push(accepted(0, 0, MpStatus::Accepted, EventType::XcpAccepted));
    states.push(accepted(
        1,
        2,
        MpStatus::Accepted,
        EventType::XcpPartiallyApplied,
    ));
    states.push(accepted(2, 2, MpStatus::Ready, EventType::XcpApplied));
    states.push(accepted(1, 2, MpStatus::Failed, EventType::XcpErrored));
    states.push(accepted(2, 2, MpStatus::Dirty, EventType::MpcDirty));
    // Every ordered pair of states, as consecutive status computations.
    for (i, first) in states.iter().enumerate() {
        let s1 = desired_status(first, 3, None, &[], "t1");
        assert_invariants(&s1, 3);
        for second in &states {
            let s2 = desired_status(second, 4, Some(&s1), &[], "t2");
            assert_invariants(&s2, 4);
            for c in &s2.conditions {
                let before = s1.conditions.iter().find(|p| p.type_ == c.type_);
                let flipped = before.is_none_or(|p| p.status != c.status);
                let want = if flipped { "t2" } else { "t1" };
                assert_eq!(c.last_transition_time, want, "state {i}: {c:?}");
            }
        }
    }
}

#[test]
fn golden_states_s2_to_s8() {
    let s5 = desired_status(
        &PushState::NotAccepted {
            reason: Reason::DependencyNotReady,
            message: "tsb.tetrate.io/workspace=payments not found in management plane; retrying"
                .into(),
        },
        4,
        None,
        &[],
        "2026-01-05T10:00:00Z",
    );
    let json = serde_json::to_value(&s5).unwrap();
    assert_eq!(json["observedGeneration"], 4);
    assert_eq!(json["conditions"][0]["type"], "Ready");
    assert_eq!(json["conditions"][0]["status"], "False");
    assert_eq!(json["conditions"][0]["reason"], "DependencyNotReady");
    assert_eq!(json["conditions"][1]["type"], "Reconciling");
    assert_eq!(
        json["conditions"][1]["lastTransitionTime"],
        "2026-01-05T10:00:00Z"
    );
    assert!(json.get("tsb").is_none());

    let s8 = desired_status(
        &PushState::NotAccepted {
            reason: Reason::WorkspaceOverlap,
            message: "x".into(),
        },
        4,
        None,
        &[],
        "t",
    );
    assert_eq!(
        find(&s8, ConditionType::Stalled).unwrap().reason,
        Reason::WorkspaceOverlap
    );

    let s6 = desired_status(
        &accepted(1, 2, MpStatus::Accepted, EventType::XcpPartiallyApplied),
        4,
        Some(&s8),
        &[],
        "t2",
    );
    let ready = find(&s6, ConditionType::Ready).unwrap();
    assert_eq!(
        (ready.status, ready.reason),
        (ConditionStatus::True, Reason::Accepted)
    );
    assert_eq!(ready.message, "applied in 1 of 2 clusters");
    let propagated = find(&s6, ConditionType::Propagated).unwrap();
    assert_eq!(
        (propagated.status, propagated.reason),
        (ConditionStatus::False, Reason::Pending)
    );
    assert_eq!(s6.tsb.as_ref().unwrap().clusters.targeted, 2);

    // No target cluster: Ready=True and no Propagated condition.
    let idle = desired_status(
        &accepted(0, 0, MpStatus::Accepted, EventType::XcpAccepted),
        4,
        None,
        &[],
        "t",
    );
    assert!(find(&idle, ConditionType::Propagated).is_none());
    assert!(
        find(&idle, ConditionType::Ready)
            .unwrap()
            .message
            .contains(NO_CLUSTER_SELECTED)
    );

    // DIRTY stays Ready=True with a Warning finding.
    let dirty = desired_status(
        &accepted(2, 2, MpStatus::Dirty, EventType::MpcDirty),
        4,
        None,
        &[],
        "t",
    );
    assert_eq!(
        find(&dirty, ConditionType::Ready).unwrap().status,
        ConditionStatus::True
    );
    assert_eq!(dirty.analysis.len(), 1);
    assert_eq!(dirty.analysis[0].level, FindingLevel::Warning);

    // A cluster error shows in Propagated, never in Ready.
    let errored = desired_status(
        &accepted(1, 2, MpStatus::Failed, EventType::XcpErrored),
        4,
        None,
        &[],
        "t",
    );
    assert_eq!(
        find(&errored, ConditionType::Ready).unwrap().status,
        ConditionStatus::True
    );
    assert_eq!(
        find(&errored, ConditionType::Propagated).unwrap().reason,
        Reason::Errored
    );
}

#[test]
fn push_errors_follow_r_a5() {
    let table = [
        ("UNAVAILABLE", None, Reason::ManagementPlaneUnavailable),
        (
            "DEADLINE_EXCEEDED",
            None,
            Reason::ManagementPlaneUnavailable,
        ),
        ("RESOURCE_EXHAUSTED", None, Reason::RateLimited),
        // An object over a size or nesting limit is terminal: retrying cannot help.
        (
            "RESOURCE_EXHAUSTED",
            Some(RuleCode::ObjectLimit),
            Reason::Invalid,
        ),
        ("ABORTED", None, Reason::Pushing),
        (
            "NOT_FOUND",
            Some(RuleCode::ParentExists),
            Reason::DependencyNotReady,
        ),
        (
            "INVALID_ARGUMENT",
            Some(RuleCode::SelectorGrammar),
            Reason::Invalid,
        ),
        ("INVALID_ARGUMENT", None, Reason::Invalid),
        (
            "FAILED_PRECONDITION",
            Some(RuleCode::WorkspaceOverlap),
            Reason::WorkspaceOverlap,
        ),
        (
            "FAILED_PRECONDITION",
            Some(RuleCode::ConfigModeMismatch),
            Reason::ConfigModeMismatch,
        ),
        (
            "FAILED_PRECONDITION",
            Some(RuleCode::StaleEtag),
            Reason::Pushing,
        ),
        ("FAILED_PRECONDITION", None, Reason::Pushing),
        (
            "ALREADY_EXISTS",
            Some(RuleCode::DuplicateServiceSetting),
            Reason::DuplicateServiceSetting,
        ),
        ("ALREADY_EXISTS", None, Reason::Conflict),
        (
            "PERMISSION_DENIED",
            Some(RuleCode::GrantScope),
            Reason::PermissionDenied,
        ),
        ("INTERNAL", None, Reason::Pushing),
    ];
    for (code, rule, want) in table {
        match PushState::from_push_error(code, rule, "m") {
            PushState::NotAccepted { reason, .. } => assert_eq!(reason, want, "{code}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn reasons_are_partitioned_and_well_formed() {
    for reason in Reason::ALL {
        assert!(!(reason.is_terminal() && reason.is_transient()));
        let s = reason.as_str();
        assert!(s.chars().next().unwrap().is_ascii_uppercase());
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(serde_json::to_value(reason).unwrap(), s);
    }
}

#[test]
fn long_messages_are_truncated_to_one_line() {
    let long = format!("a\nb {}", "x".repeat(400));
    let m = condition_message(&long);
    assert_eq!(m.chars().count(), 256);
    assert!(m.starts_with("a b "));
    assert!(m.ends_with('…'));
}

#[test]
fn wire_names_match_serde() {
    use MpStatus::*;
    for status in [Invalid, Accepted, Ready, Failed, Dirty, Partial] {
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            serde_json::Value::from(status.as_str())
        );
    }
    let events = [
        EventType::Invalid,
        EventType::TsbAccepted,
        EventType::MpcAccepted,
        EventType::XcpAccepted,
        EventType::XcpRejected,
        EventType::MpcFailed,
        EventType::XcpUnknown,
        EventType::XcpPartiallyApplied,
        EventType::XcpApplied,
        EventType::XcpErrored,
        EventType::XcpIgnored,
        EventType::MpcDirty,
    ];
    for event in events {
        assert_eq!(
            serde_json::to_value(event).unwrap(),
            serde_json::Value::from(event.as_str())
        );
    }
}

#[test]
fn edge_state_names_are_their_serialized_form() {
    for state in [
        EdgeState::Unknown,
        EdgeState::Applied,
        EdgeState::Errored,
        EdgeState::Ignored,
    ] {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        assert_eq!(EdgeState::from_name(state.as_str()), Some(state));
    }
    assert_eq!(EdgeState::from_name("applied"), None);
}
