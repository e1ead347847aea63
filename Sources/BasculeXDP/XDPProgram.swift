import CBPF
import Glibc

/// A program loaded into the kernel and attached to one interface, with its maps' file
/// descriptors. Loading keeps libbpf's messages, so a refusal by the verifier is reported with
/// the verifier's log. Attaching replaces a program of ours that a crashed Bascule left on
/// the interface, and refuses to replace anyone else's.
final class XDPProgram {
    let interface: String
    let interfaceIndex: Int32
    let mode: XDPAttachMode
    private let programName: String
    private let object: OpaquePointer
    private let image: UnsafeMutableRawBufferPointer
    private let programFD: Int32
    private(set) var attached = false
    /// The id of a stale program of ours that this one replaced, for the log.
    private(set) var replacedProgramID: UInt32 = 0

    /// Opens and loads `program` (the kernel verifies it); `sizes` overrides maps'
    /// `max_entries` before the load.
    init(_ program: XDPProgramObject, interface: String, mode: XDPAttachMode, sizes: [String: Int] = [:]) throws {
        bascule_bpf_keep_messages()
        bascule_bpf_clear_messages()
        self.interface = interface
        self.mode = mode
        programName = program.programName
        interfaceIndex = Int32(bitPattern: if_nametoindex(interface))
        guard interfaceIndex > 0 else { throw XDPError(step: "finding interface \(interface)", errno: errno) }

        // libbpf reads the ELF image in place until the object is closed: it gets a copy that
        // lives as long as this object, not a pointer lent for one call.
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: program.bytes.count, alignment: 8)
        program.bytes.withUnsafeBytes { image.copyMemory(from: $0) }
        self.image = image
        guard let object = bascule_bpf_open(image.baseAddress, image.count, "bascule") else {
            let error = XDPError(step: "opening the BPF object", errno: errno, log: Self.takeMessages())
            image.deallocate()
            throw error
        }
        self.object = object
        for (name, size) in sizes {
            if let map = bpf_object__find_map_by_name(object, name) {
                bpf_map__set_max_entries(map, UInt32(size))
            }
        }
        let loaded = bpf_object__load(object)
        guard loaded == 0 else {
            let log = Self.takeMessages()
            bpf_object__close(object)
            image.deallocate()
            throw XDPError(step: "loading the program (the kernel verifier refused it or BPF is unavailable)", errno: -loaded, log: log)
        }
        guard let loaded = bpf_object__find_program_by_name(object, program.programName) else {
            bpf_object__close(object)
            image.deallocate()
            throw XDPError(step: "finding program \(program.programName)", errno: ENOENT)
        }
        programFD = bpf_program__fd(loaded)
        bascule_bpf_clear_messages()
    }

    /// The file descriptor of the map `name`.
    func map(_ name: String) throws -> Int32 {
        let fd = bpf_object__find_map_fd_by_name(object, name)
        guard fd >= 0 else { throw XDPError(step: "finding map \(name)", errno: ENOENT) }
        return fd
    }

    deinit {
        detach()
        bpf_object__close(object)
        image.deallocate()
    }

    /// Attaches in `mode` only. A program already there is replaced when it is ours (same
    /// name: a previous Bascule that crashed or was killed); anything else is left alone and
    /// reported.
    func attach() throws {
        var id: UInt32 = 0
        var name = [CChar](repeating: 0, count: Int(BPF_OBJ_NAME_LEN))
        for other in XDPAttachMode.allCases {
            let rc = bascule_xdp_attached(interfaceIndex, other.flags, &id, &name)
            guard rc == 0 else { throw XDPError(step: "querying the program on \(interface)", errno: -rc) }
            guard id != 0 else { continue }
            let attachedName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard attachedName == programName else {
                throw XDPError(step: "attaching to \(interface): program \"\(attachedName)\" (id \(id), \(other.rawValue) mode) is already attached and is not Bascule's; remove it first",
                               errno: EBUSY)
            }
            if other != mode {
                // Ours, left by a Bascule configured with the other mode: take it off first.
                let fd = bpf_prog_get_fd_by_id(id)
                if fd >= 0 {
                    _ = bascule_xdp_detach(interfaceIndex, other.flags, fd)
                    close(fd)
                }
                replacedProgramID = id
                id = 0
            } else {
                break
            }
        }
        bascule_bpf_clear_messages()
        let rc = bascule_xdp_attach(interfaceIndex, programFD, mode.flags, id)
        guard rc == 0 else {
            let hint = mode == .native
                ? " in native mode (the driver must support XDP; generic mode is used only when configured with \"xdpMode\": \"generic\")"
                : " in generic mode"
            throw XDPError(step: "attaching to \(interface)\(hint)", errno: -rc, log: Self.takeMessages())
        }
        if id != 0 { replacedProgramID = id }
        attached = true
    }

    /// Takes the program off the interface if it is still ours there.
    func detach() {
        guard attached else { return }
        attached = false
        _ = bascule_xdp_detach(interfaceIndex, mode.flags, programFD)
    }

    /// Lets the program outlive this object (and the process): the interface keeps it.
    func leaveAttached() {
        attached = false
    }

    /// Takes the program named `programName` off `interface`, in whichever mode it is there;
    /// false when none was attached.
    static func detachAny(programNamed programName: String, interface: String) throws -> Bool {
        let index = Int32(bitPattern: if_nametoindex(interface))
        guard index > 0 else { throw XDPError(step: "finding interface \(interface)", errno: errno) }
        var found = false
        for mode in XDPAttachMode.allCases {
            var id: UInt32 = 0
            var name = [CChar](repeating: 0, count: Int(BPF_OBJ_NAME_LEN))
            let rc = bascule_xdp_attached(index, mode.flags, &id, &name)
            guard rc == 0 else { throw XDPError(step: "querying the program on \(interface)", errno: -rc) }
            guard id != 0, String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == programName else { continue }
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let detached = bascule_xdp_detach(index, mode.flags, fd)
            guard detached == 0 else { throw XDPError(step: "detaching from \(interface)", errno: -detached) }
            found = true
        }
        return found
    }

    /// The kernel's id of the loaded program.
    var programID: UInt32 {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(programFD, &info, &length) == 0 else { return 0 }
        return info.id
    }

    private static func takeMessages() -> String {
        let text = String(cString: bascule_bpf_messages())
        bascule_bpf_clear_messages()
        return text
    }
}
