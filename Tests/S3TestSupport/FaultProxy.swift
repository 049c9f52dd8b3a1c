import Foundation
import Glibc

/// A loopback HTTP proxy between the S3 client and moto that injects faults: each request
/// is read whole, then, as `plan` decides, forwarded (and the answer relayed, or dropped),
/// answered with an error status, reset, or left without an answer. One request per
/// connection (answers carry `Connection: close`).
public final class FaultProxy: @unchecked Sendable {
    /// What happens to one request.
    public enum Fault: Equatable, Sendable {
        /// Forward and relay the answer.
        case forward
        /// Answer with this status and S3 error code without forwarding.
        case status(Int, String)
        /// Close the connection with a reset, without forwarding.
        case reset
        /// Forward, then reset instead of relaying the answer: the request took effect, its
        /// answer is lost.
        case forwardThenReset
        /// Read the request and answer nothing for this long, then close.
        case stall(Double)
    }

    /// The proxy's loopback port.
    public let port: UInt16
    private let upstreamPort: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var planFunction: (Int, String) -> Fault = { _, _ in .forward }
    private var served = 0
    /// Every request's first line and fault.
    public private(set) var log: [(request: String, fault: Fault)] = []
    private var stopped = false

    /// A proxy to the server at `127.0.0.1:upstreamPort`.
    public init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        listener = fd
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    deinit { stop() }

    /// Stops listening.
    public func stop() {
        lock.lock()
        let was = stopped
        stopped = true
        lock.unlock()
        if !was {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
    }

    /// Decides each request's fault from its number (from 0, counting every request the
    /// proxy has seen) and its first line (`PUT /bucket/key?… HTTP/1.1`).
    public func plan(_ f: @escaping (Int, String) -> Fault) {
        lock.lock()
        planFunction = f
        lock.unlock()
    }

    /// Requests seen so far.
    public var requestCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return served
    }

    private func acceptLoop() {
        while true {
            let c = accept(listener, nil, nil)
            if c < 0 {
                lock.lock()
                let done = stopped
                lock.unlock()
                if done { return }
                continue
            }
            let t = Thread { [self] in handle(c) }
            t.start()
        }
    }

    private func handle(_ client: Int32) {
        guard let request = readRequest(client) else {
            close(client)
            return
        }
        let firstLine = String(decoding: request.prefix { $0 != 13 }, as: UTF8.self)
        lock.lock()
        let n = served
        served += 1
        let fault = planFunction(n, firstLine)
        log.append((firstLine, fault))
        lock.unlock()
        switch fault {
        case .forward:
            if let answer = forward(request) { writeAll(client, answer) }
            close(client)
        case .status(let code, let name):
            let body =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(name)</Code><Message>injected</Message></Error>"
            let head =
                "HTTP/1.1 \(code) Injected\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n"
            writeAll(client, Array((head + body).utf8))
            close(client)
        case .reset:
            reset(client)
        case .forwardThenReset:
            _ = forward(request)
            reset(client)
        case .stall(let seconds):
            Thread.sleep(forTimeInterval: seconds)
            close(client)
        }
    }

    private func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// The request's head and body (by `Content-Length`), with `Connection: close`.
    private func readRequest(_ fd: Int32) -> [UInt8]? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int? = nil
        var length = 0
        while true {
            if let h = headEnd, data.count >= h + length { break }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return nil }
            data += buffer[0..<n]
            if headEnd == nil, let r = find(data, Array("\r\n\r\n".utf8)) {
                headEnd = r + 4
                let head = String(decoding: data[0..<r], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        guard let h = headEnd else { return nil }
        return withConnectionClose(Array(data[0..<(h + length)]), headEnd: h)
    }

    /// The head with any `Connection` header replaced by `Connection: close`.
    private func withConnectionClose(_ message: [UInt8], headEnd: Int) -> [UInt8] {
        let head = String(decoding: message[0..<(headEnd - 4)], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("connection:") }
        lines.append("Connection: close")
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + message[headEnd...]
    }

    /// Sends the request to the server and reads its whole answer (until it closes).
    private func forward(_ request: [UInt8]) -> [UInt8]? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = upstreamPort.bigEndian
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else { return nil }
        writeAll(s, request)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(s, &buffer, buffer.count)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        guard let h = find(answer, Array("\r\n\r\n".utf8)) else { return answer }
        return withConnectionClose(answer, headEnd: h + 4)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    private func find(_ data: [UInt8], _ needle: [UInt8]) -> Int? {
        guard data.count >= needle.count else { return nil }
        for i in 0...(data.count - needle.count) where data[i] == needle[0] {
            if Array(data[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
