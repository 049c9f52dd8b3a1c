import Foundation
import Glibc
import LSMStoreS3

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// moto's S3 server on loopback, with authentication on: the first three requests (an IAM
/// user, its access key and an allow-all policy) go unauthenticated, every later one must
/// carry a valid Signature Version 4 of that key.
public final class MotoServer: @unchecked Sendable {
    let process = Process()
    /// Where it listens: `http://127.0.0.1:<port>`.
    public let endpoint: URL
    /// Its own session and delegate queue: the shared session may deliver on the main queue,
    /// which a waiting test thread can block.
    private let session = URLSession(configuration: .ephemeral, delegate: nil, delegateQueue: OperationQueue())
    /// The access key it accepts (an IAM user's, with an allow-all policy).
    public private(set) var credentials = AWSCredentials(accessKeyID: "", secretAccessKey: "")

    /// Starts a server on a random free loopback port and provisions its credentials.
    public init() throws {
        let port = try Self.freePort()
        guard let url = URL(string: "http://127.0.0.1:\(port)") else { throw Self.failure("bad port \(port)") }
        endpoint = url
        guard
            let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
                .map({ "\($0)/moto_server" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw Self.failure("moto_server not found: `make deps` installs moto[server] from PyPI") }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        var env = ProcessInfo.processInfo.environment
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try waitUntilListening()
        try provision()
    }

    deinit { stop() }

    /// Stops the server (SIGKILL: werkzeug's server may not exit on SIGTERM).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Why the server could not be started or provisioned.
    public struct StartError: Error, CustomStringConvertible {
        /// What went wrong.
        public var description: String
    }

    static func failure(_ message: String) -> StartError { StartError(description: message) }

    /// Form encoding of one parameter: unreserved characters as they are, the rest as `%XX`.
    static func formEncode(_ s: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)
        return s.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }
            .joined()
    }

    /// A loopback port nothing listens on now (the kernel's choice for a socket bound to 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("socket: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw failure("bind: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Waits for the server to answer: a minute at most (its start is slow on a busy machine),
    /// failing at once if it exits.
    private func waitUntilListening() throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if rawRequest("GET", path: "/moto-api/", body: nil, service: "s3") != nil { return }
            guard process.isRunning else {
                throw Self.failure("moto_server exited (status \(process.terminationStatus))")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Self.failure("moto_server did not start at \(endpoint.absoluteString) within 60 s")
    }

    /// An IAM call (query API), signed with throwaway credentials (unchecked while the
    /// initial allowance lasts): moto routes requests by the signature's service.
    private func iam(_ params: [(String, String)]) throws -> String {
        let body = (params + [("Version", "2010-05-08")])
            .map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        guard let answer = rawRequest("POST", path: "/", body: Array(body.utf8), service: "iam") else {
            throw Self.failure("IAM \(params[0].1) failed")
        }
        return answer
    }

    private func provision() throws {
        _ = try iam([("Action", "CreateUser"), ("UserName", "lsm")])
        let key = try iam([("Action", "CreateAccessKey"), ("UserName", "lsm")])
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        _ = try iam([
            ("Action", "PutUserPolicy"), ("UserName", "lsm"), ("PolicyName", "all"), ("PolicyDocument", policy),
        ])
        func tag(_ name: String) throws -> String {
            guard let a = key.range(of: "<\(name)>"),
                let b = key.range(of: "</\(name)>", range: a.upperBound..<key.endIndex)
            else { throw Self.failure("no \(name) in CreateAccessKey's answer") }
            return String(key[a.upperBound..<b.lowerBound])
        }
        credentials = AWSCredentials(accessKeyID: try tag("AccessKeyId"), secretAccessKey: try tag("SecretAccessKey"))
    }

    /// One request signed with throwaway credentials; the response body as text, or nil when
    /// it failed.
    private func rawRequest(_ method: String, path: String, body: [UInt8]?, service: String) -> String? {
        let host = "127.0.0.1:\(endpoint.port ?? 0)"
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIDSETUP", secretAccessKey: "setup"), region: "us-east-1",
            service: service)
        var headers: [(name: String, value: String)] = [("Host", host)]
        if body != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        let signed = signer.sign(
            SigV4Signer.Request(
                method: method, path: path, headers: headers, payloadHash: SigV4Signer.payloadHash(body ?? [])),
            at: Date())
        guard let url = URL(string: "http://\(host)\(path)") else { return nil }
        var r = URLRequest(url: url)
        r.httpMethod = method
        r.timeoutInterval = 10
        for (n, v) in headers + signed where n != "Host" { r.setValue(v, forHTTPHeaderField: n) }
        if let body { r.httpBody = Data(body) }
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var text: String? }
        let box = Box()
        session.dataTask(with: r) { data, response, _ in
            if let http = response as? HTTPURLResponse, http.statusCode < 300 {
                box.text = String(decoding: data ?? Data(), as: UTF8.self)
            }
            done.signal()
        }.resume()
        done.wait()
        return box.text
    }
}
