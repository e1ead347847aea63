extension Strategy {
    /// The table a `maglev` strategy places clients with (nil for other strategies, or when no
    /// backend is eligible): the kernel data plane writes this very table into its BPF map, so
    /// a proxy node and an XDP node with the same pool agree on every client.
    public var maglevTable: MaglevTable? {
        if case .maglev(let box) = self { return box.value.table }
        return nil
    }
}
