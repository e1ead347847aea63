import BasculeConfig
import BasculeHealth
import BasculeProxy

/// The /metrics families of the running process beyond the status snapshot `MetricsPage`
/// renders: reloads, workers and drain, control-plane failures, connection histograms, the
/// access log. Defined here, with the rest of the admin surface; the CLI only wires them.
public enum ProxyMetrics {
    /// Adds the process's own families and health-check results to /metrics and /status.
    public static func expose(_ controller: ProxyController, on admin: AdminServer,
                              healthResults: @escaping () -> [[CheckResultSnapshot]]) {
        admin.extraMetrics = [
            { control(controller) },
            {
                let withoutBackendSeries = controller.reload.configuration.services.filter { !$0.backendMetrics }.map(\.name)
                return HealthMetrics.render(healthResults(), aggregated: Set(withoutBackendSeries))
            },
            { histograms(controller.registry.connectionHistograms()) },
            { controller.accessLog.map(accessLog) ?? "" },
            { runtime(controller.reload) },
            { RouteMetrics.render(controller.routeCounters) },
            { HandoverMetrics.render(controller.handover) },
            { NameMetrics.render(controller.reload.nameStatuses(), applyFailures: controller.reload.nameApplyFailures) },
        ]
        admin.extraStatus = [
            (key: "routes", value: { RouteMetrics.status(controller.routeCounters) }),
            (key: "healthChecks", value: { HealthMetrics.status(healthResults()) }),
            (key: "settingsAwaitingRestart", value: { .array(controller.reload.settingsAwaitingRestart.map { .string($0) }) }),
            (key: "runtimeChanges", value: { runtimeStatus(controller.reload) }),
            (key: "handover", value: { HandoverMetrics.status(controller.handover) }),
            (key: "dnsNames", value: { NameMetrics.status(controller.reload.nameStatuses()) }),
        ]
    }

    static func control(_ controller: ProxyController) -> String {
        let reload = controller.reload
        var reloads = MetricFamily(name: "bascule_config_reloads_total", help: "Configuration reloads applied.", type: .counter)
        reloads.add(reload.reloadCount)
        var failures = MetricFamily(name: "bascule_config_reload_failures_total",
                                    help: "Configuration reloads rejected (invalid file, port in use).", type: .counter)
        failures.add(reload.reloadFailureCount)
        var followUp = MetricFamily(name: "bascule_reload_health_rebuild_failures_total",
                                    help: "Reloads applied after which the health checks could not be rebuilt for the new backends.",
                                    type: .counter)
        followUp.add(reload.followUpFailureCount)
        var rebuilds = MetricFamily(name: "bascule_table_rebuild_failures_total",
                                    help: "Routing-table rebuilds that failed after a backend state change; workers kept the previous table.",
                                    type: .counter)
        rebuilds.add(controller.registry.tableRebuildFailures)
        var changes = MetricFamily(name: "bascule_backend_state_changes_total",
                                   help: "Backend state changes (health, agent, operator) noted by the control thread.", type: .counter)
        changes.add(controller.registry.stateChanges)
        var published = MetricFamily(name: "bascule_table_publishes_total",
                                     help: "Routing tables published to the workers after state changes; changes of one control-loop turn share one.",
                                     type: .counter)
        published.add(controller.registry.tablesPublished)
        var installs = MetricFamily(name: "bascule_table_publish_latency_seconds",
                                    help: "From a backend state change to a worker routing with a table that carries it (one sample per worker per table).",
                                    type: .histogram)
        let snapshot = controller.registry.installLatency.snapshot()
        installs.addHistogram(buckets: zip(snapshot.boundsSeconds, snapshot.cumulative).map { (le: $0, count: $1) },
                              sum: snapshot.sumSeconds, count: snapshot.count)
        var pending = MetricFamily(name: "bascule_config_restart_pending",
                                   help: "1 while the applied file changes workers, accessLog or admin.listen, which a handover (bascule upgrade) or a restart applies.",
                                   type: .gauge)
        pending.add(reload.settingsAwaitingRestart.isEmpty ? 0 : 1)
        var lastReload = MetricFamily(name: "bascule_config_last_reload_successful",
                                      help: "0 when the last reload was rejected, else 1 (also before any reload).", type: .gauge)
        lastReload.add(reload.lastReloadSucceeded ? 1 : 0)
        var processLimit = MetricFamily(name: "bascule_max_connections",
                                        help: "The process-wide maxConnections (only when set).", type: .gauge)
        if let limit = reload.configuration.maxConnections { processLimit.add(limit) }
        var workers = MetricFamily(name: "bascule_workers", help: "Worker threads relaying connections.", type: .gauge)
        workers.add(controller.workerCountForMetrics)
        var draining = MetricFamily(name: "bascule_draining", help: "1 while the process drains for shutdown.", type: .gauge)
        draining.add(controller.draining ? 1 : 0)
        var drained = MetricFamily(name: "bascule_node_drained", help: "1 while an operator has drained the whole node (POST /drain).", type: .gauge)
        drained.add(controller.nodeDrained ? 1 : 0)
        return [reloads, failures, lastReload, followUp, rebuilds, changes, published, installs, pending].map(\.rendered).joined()
            + (processLimit.hasSamples ? processLimit.rendered : "")
            + [workers, draining, drained].map(\.rendered).joined()
    }

    /// What the runtime API changed since the file was applied, and what the last reload undid.
    static func runtimeStatus(_ reload: ConfigurationReload) -> JSONValue {
        .object([
            // Backends of the file's DNS names are the file's: only an operator's changes count.
            ("differsFromFile", .bool(reload.runtimeDiffersFromFile)),
            ("added", .int(reload.runtimeAddedCount)),
            ("pendingRemovals", .int(reload.runtimePendingRemovals)),
            ("lastReloadUndid", .array(reload.lastReloadUndid.map { .string($0) })),
        ])
    }

    static func runtime(_ reload: ConfigurationReload) -> String {
        var changes = MetricFamily(name: "bascule_runtime_backend_changes_total",
                                   help: "Backends added or removed through the admin API (not written to the file).", type: .counter)
        changes.add(reload.runtimeAdds, [("action", "add")])
        changes.add(reload.runtimeRemovals, [("action", "remove")])
        var rejected = MetricFamily(name: "bascule_runtime_backend_changes_rejected_total",
                                    help: "Runtime backend changes refused: invalid backend, or a removal that would empty the pool.",
                                    type: .counter)
        rejected.add(reload.runtimeRejections)
        var timedOut = MetricFamily(name: "bascule_runtime_backend_removals_timed_out_total",
                                    help: "Runtime removals that reached the drain timeout with connections still open.", type: .counter)
        timedOut.add(reload.runtimeRemovalsTimedOut)
        var added = MetricFamily(name: "bascule_runtime_backends_added", help: "Backends running now that were added at runtime.",
                                 type: .gauge)
        added.add(reload.runtimeAddedCount)
        var pending = MetricFamily(name: "bascule_runtime_backend_removals_pending",
                                   help: "Backends draining before their removal at runtime.", type: .gauge)
        pending.add(reload.runtimePendingRemovals)
        var undone = MetricFamily(name: "bascule_reload_runtime_changes_undone_total",
                                  help: "Runtime backend changes that reloads undid (the file wins).", type: .counter)
        undone.add(reload.runtimeChangesUndone)
        return [changes, rejected, timedOut, added, pending, undone].map(\.rendered).joined()
    }

    static func histograms(_ services: [ServiceHistograms]) -> String {
        var connect = MetricFamily(name: "bascule_connect_duration_seconds",
                                   help: "Time from accepting a client to its backend connection being established.", type: .histogram)
        var duration = MetricFamily(name: "bascule_connection_duration_seconds",
                                    help: "Lifetime of client connections, accept to close.", type: .histogram)
        for service in services {
            let labels = [("service", service.service)]
            for (family, snapshot) in [(0, service.connect), (1, service.duration)] {
                let buckets = zip(snapshot.boundsSeconds, snapshot.cumulative).map { (le: $0, count: $1) }
                if family == 0 {
                    connect.addHistogram(labels, buckets: buckets, sum: snapshot.sumSeconds, count: snapshot.count)
                } else {
                    duration.addHistogram(labels, buckets: buckets, sum: snapshot.sumSeconds, count: snapshot.count)
                }
            }
        }
        return connect.rendered + duration.rendered
    }

    static func accessLog(_ writer: AccessLogWriter) -> String {
        var written = MetricFamily(name: "bascule_access_log_lines_total", help: "Access-log lines written.", type: .counter)
        written.add(writer.writtenLines.load(ordering: .relaxed))
        var dropped = MetricFamily(name: "bascule_access_log_dropped_lines_total",
                                   help: "Access-log lines dropped because the writer fell behind or a write failed.", type: .counter)
        dropped.add(writer.droppedLines.load(ordering: .relaxed))
        var errors = MetricFamily(name: "bascule_access_log_write_errors_total",
                                  help: "Access-log writes that failed (disk full, file gone bad), and 1 if the writer thread could not start.",
                                  type: .counter)
        errors.add(writer.writeErrors.load(ordering: .relaxed))
        return written.rendered + dropped.rendered + errors.rendered
    }
}
