import BasculeTestSupport
import Testing

/// The scale-out lab (deploy/lab/lab.sh): real keepalived and BIRD from deploy/'s templates, in
/// network namespaces this suite creates and removes. One lab at a time: the suite and
/// everything nested in it (ScaleOutVRRPTests, ScaleOutECMPTests) runs serialized, and the
/// figures printed with `scale-out:` are what deploy/README.md quotes.
@Suite("Scale-out lab", .serialized, .enabled(if: ScaleOutLab.isAvailable), .timeLimit(.minutes(3)))
enum ScaleOutLabTests {}
