/// The release this build is, in one place: `--version` of both binaries, the package's
/// version, and `bascule_build_info`. packaging/build-deb.sh reads it from this file.
public enum BasculeVersion {
    public static let string = "0.9.0"
}
