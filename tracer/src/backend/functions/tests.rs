use formats::meta::RetType;
use symbols::btf::KernelBtf;

use super::object::FnObject;
use super::*;
use crate::backend::Backend;
use crate::bpf_sys::ProgKind;
use crate::pins::PinDir;
use crate::session::{ConfigGlobal, OffsetsGlobal, load_for_probing_with_pins, pod_bytes};

/// The kprobe backend, as on a kernel that allows kprobes.
const KPROBES: Probing = Probing {
    backend: Backend::Kprobe,
    kprobes: true,
};

fn selection(globs: &[&str]) -> Selection {
    Selection {
        globs: globs.iter().map(|g| g.to_string()).collect(),
        ..Selection::default()
    }
}

/// The function-probe programs pass this kernel's verifier with every
/// argument layout they meet: skb first, skb second, socket only, neither.
/// kprobe-type programs load (without attaching) even on kernels built
/// without kprobes, so this runs on the host too.
#[test]
fn function_probe_programs_pass_the_verifier() {
    let kernel = KernelBtf::from_sys().unwrap();
    let facts = Traceability::read(&kernel).unwrap();
    let funcs = [
        "ip_rcv",
        "tcp_v4_do_rcv",
        "tcp_v4_connect",
        "tcp_set_state",
        "net_rx_action",
        "nf_hook_slow",
    ];
    let (targets, skipped) = resolve(&selection(&funcs), &facts, KPROBES, &[]).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(targets.len(), funcs.len());
    let by_name = |n: &str| targets.iter().find(|t| t.name == n).unwrap();
    assert_eq!(by_name("ip_rcv").skb_arg, Some(0));
    assert_eq!(by_name("tcp_v4_do_rcv").skb_arg, Some(1));
    assert_eq!(by_name("tcp_v4_do_rcv").sock_arg, Some(0));
    assert_eq!(by_name("tcp_v4_connect").skb_arg, None);
    assert_eq!(by_name("nf_hook_slow").nf_state_arg, Some(1));
    // Return types reach the probe table.
    let int = RetType::Int {
        size: 4,
        signed: true,
    };
    assert_eq!(by_name("ip_rcv").ret, int);
    assert_eq!(by_name("tcp_set_state").ret, RetType::Void);
    let descs = probe_descs(targets.iter().map(|t| (t, ProbeKind::Kprobe)));
    let desc = descs.iter().find(|d| d.name == "tcp_set_state").unwrap();
    assert_eq!(desc.ret, RetType::Void);

    let offsets = OffsetsGlobal(kernel.kernel_offsets().unwrap());
    let pins = PinDir::create().unwrap();
    let _main = load_for_probing_with_pins(offsets.0, &pins).unwrap();
    let configs = crate::backend::verifier_test_configs();
    for config in configs {
        let config = ConfigGlobal(config);
        let object = FnObject::create(&ObjectSpec {
            offsets: pod_bytes(&offsets),
            config: pod_bytes(&config),
            pins: &pins,
            functions: targets.len() as u32,
        })
        .unwrap();
        for target in &targets {
            object
                .add_function(
                    0xffffffff81000000 + u64::from(target.probe_id),
                    &attach::func_info(target),
                )
                .unwrap();
        }
        // An entry program per argument layout; exits need none.
        for target in &targets {
            object
                .load(attach::layout(target), "kp_entry", ProgKind::Kprobe)
                .unwrap_or_else(|e| panic!("kp_entry for {}: {e}", target.name));
        }
        for kind in [ProgKind::Kprobe, ProgKind::KprobeMulti] {
            object
                .load(attach::EXIT_LAYOUT, "kp_exit", kind)
                .unwrap_or_else(|e| panic!("kp_exit as {kind:?}: {e}"));
        }
        object
            .load(
                attach::layout(&targets[0]),
                "kp_entry",
                ProgKind::KprobeMulti,
            )
            .unwrap_or_else(|e| panic!("kp_entry as a kprobe-multi program: {e}"));
    }
}

#[test]
fn unknown_functions_are_skipped_with_a_reason() {
    let kernel = KernelBtf::from_sys().unwrap();
    let facts = Traceability::read(&kernel).unwrap();
    let (targets, skipped) =
        resolve(&selection(&["no_such_function_xyz"]), &facts, KPROBES, &[]).unwrap();
    assert!(targets.is_empty());
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].why.contains("not in this kernel's BTF"),
        "{}",
        skipped[0].why
    );
    let err = resolve(&selection(&["no_such_prefix_*"]), &facts, KPROBES, &[]).unwrap_err();
    assert!(err.to_string().contains("matches no function"));
}
