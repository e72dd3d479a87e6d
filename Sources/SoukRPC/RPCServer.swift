public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// JSON-RPC 2.0 over HTTP `POST /`, one `Service` of the daemon.
///
/// Denial-of-service rules enforced here: a `Content-Length` over `maxBodyBytes` is answered 413
/// and the connection closed before any body byte is buffered; a chunked body is cut off the
/// moment it passes the limit; a connection idle for `idleTimeout` is closed; malformed HTTP gets
/// 400 from NIO's error handler. Every request needs the cookie credentials (else 401).
public final class RPCServer: Service, Sendable {
    public static let maxBodyBytes = 1 << 20
    static let idleTimeout = TimeAmount.seconds(60)

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The address actually bound (port 0 picks a free port).
    public let host: String
    public let port: Int
    private let serverChannel: NIOAsyncChannel<Connection, Never>
    private let dispatcher: RPCDispatcher
    private let auth: RPCAuth
    private let logger: Logger

    private init(
        host: String, port: Int, serverChannel: NIOAsyncChannel<Connection, Never>, dispatcher: RPCDispatcher,
        auth: RPCAuth, logger: Logger
    ) {
        self.host = host
        self.port = port
        self.serverChannel = serverChannel
        self.dispatcher = dispatcher
        self.auth = auth
        self.logger = logger
    }

    /// Binds the listening socket; call `run()` to serve.
    /// - Throws: NIO's bind error (for example, the port is in use).
    public static func bind(
        host: String, port: Int, dispatcher: RPCDispatcher, auth: RPCAuth, logger: Logger
    ) async throws -> RPCServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: RPCServer.idleTimeout))
                    try child.pipeline.syncOperations.addHandler(IdleCloser())
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        let bound = channel.channel.localAddress?.port ?? port
        return RPCServer(
            host: host, port: bound, serverChannel: channel, dispatcher: dispatcher, auth: auth, logger: logger)
    }

    /// Serves until graceful shutdown or cancellation, then closes the listener and every connection.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.serverChannel.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Normal shutdown.
        }
        logger.info("rpc server stopped")
    }

    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        if let refusal = self.precheck(h) {
                            try await self.write(refusal, to: outbound, version: h.version, keepAlive: false)
                            return
                        }
                        if h.headers["expect"].first?.lowercased() == "100-continue" {
                            try await outbound.write(.head(HTTPResponseHead(version: h.version, status: .continue)))
                        }
                        head = h
                        body.clear()
                    case .body(var chunk):
                        guard body.readableBytes + chunk.readableBytes <= RPCServer.maxBodyBytes else {
                            let version = head?.version ?? .http1_1
                            try await self.write(Self.tooLarge, to: outbound, version: version, keepAlive: false)
                            return
                        }
                        body.writeBuffer(&chunk)
                    case .end:
                        guard let h = head else { return }
                        let reply = await self.dispatcher.handle(body: Array(buffer: body))
                        let response = reply.map { Reply(status: .ok, body: $0) } ?? Reply(status: .noContent, body: [])
                        try await self.write(response, to: outbound, version: h.version, keepAlive: h.isKeepAlive)
                        guard h.isKeepAlive else { return }
                        head = nil
                        body = ByteBuffer()
                    }
                }
            }
        } catch {
            logger.debug("rpc connection ended", metadata: ["error": "\(error)"])
        }
    }

    struct Reply {
        var status: HTTPResponseStatus
        var body: [UInt8]
        var headers: [(String, String)] = []
    }

    static let tooLarge = Reply(
        status: .payloadTooLarge,
        body: Array("{\"error\":\"request body over \(RPCServer.maxBodyBytes) bytes\"}".utf8))

    /// Checks that need only the head: path, method, credentials, declared size.
    private func precheck(_ head: HTTPRequestHead) -> Reply? {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/" else {
            return Reply(status: .notFound, body: Array("{\"error\":\"JSON-RPC is served at POST /\"}".utf8))
        }
        guard head.method == .POST else {
            return Reply(
                status: .methodNotAllowed, body: Array("{\"error\":\"use POST\"}".utf8), headers: [("Allow", "POST")])
        }
        guard auth.accepts(authorization: head.headers["authorization"].first) else {
            logger.warning("rpc request with missing or wrong credentials refused")
            return Reply(
                status: .unauthorized,
                body: Array("{\"error\":\"missing or wrong credentials: use the cookie in the data dir\"}".utf8),
                headers: [("WWW-Authenticate", "Basic realm=\"souk\"")])
        }
        if let declared = head.headers["content-length"].first, let n = Int(declared), n > RPCServer.maxBodyBytes {
            return Self.tooLarge
        }
        return nil
    }

    private func write(
        _ reply: Reply, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, version: HTTPVersion,
        keepAlive: Bool
    ) async throws {
        var headers = HTTPHeaders()
        if !reply.body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Content-Length", value: String(reply.body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        for (k, v) in reply.headers { headers.add(name: k, value: v) }
        try await outbound.write(.head(HTTPResponseHead(version: version, status: reply.status, headers: headers)))
        if !reply.body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))) }
        try await outbound.write(.end(nil))
    }
}

/// Closes a connection when `IdleStateHandler` reports it idle.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
