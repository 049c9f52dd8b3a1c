import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StreamRuntime
import Synchronization

/// Serves a running job's figures over HTTP/1.1 (SwiftNIO), for as long as it is started:
///
/// * `GET /metrics`: Prometheus text format (`JobMetrics`);
/// * `GET /jobs/overview` and `GET /jobs/<id>/checkpoints`: JSON in the shape of Flink's REST
///   API (the id is the job's, from the overview);
/// * `GET /`: a live page (HTML and JavaScript from this binary, nothing from the internet)
///   charting each checkpoint's duration and size as the job runs, failures marked.
///
/// ```swift
/// let monitor = JobMonitor()
/// env.monitor = monitor
/// let server = try MonitoringServer.start(host: "127.0.0.1", port: 8081, monitor: monitor)
/// defer { server.stop() }
/// ```
public final class MonitoringServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The address it listens on (the port the system chose, when started with port 0).
    public let host: String
    /// See `host`.
    public let port: Int

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, host: String, port: Int) {
        self.group = group
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Starts serving `monitor` on `host:port` (port 0: any free port). Throws when the
    /// address cannot be bound.
    public static func start(host: String, port: Int, monitor: JobMonitor) throws -> MonitoringServer {
        let jobs = MonitoredJobs()
        jobs.add(monitor)
        return try start(host: host, port: port, jobs: jobs)
    }

    /// Starts serving every job in `jobs` (one added later is served from then on).
    public static func start(host: String, port: Int, jobs: MonitoredJobs) throws -> MonitoringServer {
        let metrics = JobMetrics()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPHandler { method, uri in Routes.respond(method: method, uri: uri, jobs, metrics) })
                }
            }
        do {
            let channel = try bootstrap.bind(host: host, port: port).wait()
            let bound = channel.localAddress?.port ?? port
            return MonitoringServer(group: group, channel: channel, host: host, port: bound)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// Stops serving and releases the port.
    public func stop() {
        _ = try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The jobs a `MonitoringServer` serves: a process that runs jobs one after another (the
/// Bench's runs) adds each one's monitor as it starts.
public final class MonitoredJobs: Sendable {
    private let monitors = Mutex<[JobMonitor]>([])

    /// No jobs yet.
    public init() {}

    /// Serves `monitor` too.
    public func add(_ monitor: JobMonitor) { monitors.withLock { $0.append(monitor) } }

    /// Every job's snapshot, newest first.
    func snapshots() -> [JobSnapshot] { monitors.withLock { $0 }.reversed().map { $0.snapshot() } }
}

/// A response: status, content type and body.
struct Response {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]
}

/// The endpoints.
enum Routes {
    static func respond(method: HTTPMethod, uri: String, _ jobs: MonitoredJobs, _ metrics: JobMetrics) -> Response {
        guard method == .GET || method == .HEAD else {
            return Response(status: .methodNotAllowed, contentType: "text/plain", body: Array("GET only\n".utf8))
        }
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        let snapshots = jobs.snapshots()
        do {
            switch path {
            case "/metrics":
                // A job not started yet has no name or id to label its series with.
                for s in snapshots where s.status != .created { metrics.update(from: s) }
                return Response(
                    status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: Array(metrics.prometheusText().utf8))
            case "/jobs/overview":
                return Response(
                    status: .ok, contentType: "application/json",
                    body: try FlinkREST.json(FlinkREST.overview(snapshots)))
            case "/", "/index.html":
                return Response(status: .ok, contentType: "text/html; charset=utf-8", body: Array(LivePage.html.utf8))
            default:
                let parts = path.split(separator: "/")
                if parts.count == 3, parts[0] == "jobs", parts[2] == "checkpoints" {
                    guard let snapshot = snapshots.first(where: { $0.jobID == parts[1] }) else {
                        return Response(
                            status: .notFound, contentType: "application/json",
                            body: try FlinkREST.json(["errors": ["no job \(parts[1])"]]))
                    }
                    return Response(
                        status: .ok, contentType: "application/json",
                        body: try FlinkREST.json(FlinkREST.checkpoints(snapshot)))
                }
                return Response(
                    status: .notFound, contentType: "application/json",
                    body: try FlinkREST.json(["errors": ["not found: \(path)"]]))
            }
        } catch {
            return Response(
                status: .internalServerError, contentType: "text/plain", body: Array("\(error)\n".utf8))
        }
    }
}

/// One HTTP/1.1 connection: answers each request once its end has arrived.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let route: (HTTPMethod, String) -> Response
    private var head: HTTPRequestHead?

    init(route: @escaping (HTTPMethod, String) -> Response) { self.route = route }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let r = route(request.method, request.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: r.contentType)
            headers.add(name: "Content-Length", value: "\(r.body.count)")
            headers.add(name: "Cache-Control", value: "no-store")
            let keepAlive = request.isKeepAlive
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: r.status, headers: headers))),
                promise: nil)
            if request.method != .HEAD {
                context.write(
                    wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: r.body)))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                done.whenComplete { _ in ctx.value.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
