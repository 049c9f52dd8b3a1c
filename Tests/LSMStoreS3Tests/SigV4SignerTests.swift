import Foundation
import S3TestSupport
import Testing

@testable import LSMStoreS3

/// AWS Signature Version 4 against AWS's published vectors: the SigV4 test suite (key
/// `AKIDEXAMPLE`, region `us-east-1`, service `service`, 2015-08-30T12:36:00Z) and the S3
/// documentation's GET Object example.
@Suite struct SigV4SignerTests {
    static let suite = SigV4Signer(
        credentials: AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

    static func authorization(_ headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name == "Authorization" }?.value
    }

    struct Vector: Sendable, CustomStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [(name: String, value: String)]
        let expected: String
        var description: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "get-vanilla", method: "GET", path: "/", query: [], headers: [],
            expected:
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        ),
        Vector(
            name: "post-vanilla", method: "POST", path: "/", query: [], headers: [],
            expected:
                "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        ),
        Vector(
            name: "get-vanilla-query-order-key-case", method: "GET", path: "/",
            query: [("Param2", "value2"), ("Param1", "value1")], headers: [],
            expected:
                "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ),
        Vector(
            name: "post-header-value-case", method: "POST", path: "/", query: [], headers: [("My-Header1", "VALUE1")],
            expected:
                "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"
        ),
        Vector(
            name: "get-header-value-trim", method: "GET", path: "/", query: [],
            headers: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
            expected:
                "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        ),
        Vector(
            name: "get-unreserved", method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: [], headers: [],
            expected:
                "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
        ),
    ]

    @Test(arguments: vectors)
    func matchesTheSigV4TestSuite(_ v: Vector) {
        let request = SigV4Signer.Request(
            method: v.method, path: v.path, query: v.query, headers: [("Host", "example.amazonaws.com")] + v.headers)
        let signed = Self.suite.sign(request, at: Self.suiteDate)
        #expect(Self.authorization(signed) == "\(Self.scope), \(v.expected)", "\(v.name)")
        #expect(signed.first { $0.name == "X-Amz-Date" }?.value == "20150830T123600Z")
    }

    @Test func theCanonicalRequestOfGetVanilla() {
        let request = SigV4Signer.Request(
            method: "GET", path: "/", headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")])
        let (text, signed) = SigV4Signer.canonicalRequest(request)
        #expect(signed == "host;x-amz-date")
        #expect(
            text
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                + SigV4Signer.emptyPayloadHash)
        // Its hash is the last line of the suite's string to sign.
        #expect(
            SigV4Signer.payloadHash(Array(text.utf8))
                == "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
    }

    /// The S3 documentation's example: GET Object `test.txt` with a range header.
    @Test func matchesTheS3GetObjectExample() {
        let s3 = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1")
        let request = SigV4Signer.Request(
            method: "GET", path: "/test.txt",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash),
            ])
        let signed = s3.sign(request, at: Date(timeIntervalSince1970: 1_369_353_600))  // 2013-05-24T00:00:00Z
        #expect(
            Self.authorization(signed)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func temporaryCredentialsAddAndSignTheSessionToken() {
        var signer = Self.suite
        signer.credentials.sessionToken = "token-123"
        let signed = signer.sign(
            SigV4Signer.Request(method: "GET", path: "/", headers: [("Host", "example.amazonaws.com")]),
            at: Self.suiteDate)
        #expect(signed.contains { $0.name == "X-Amz-Security-Token" && $0.value == "token-123" })
        #expect(Self.authorization(signed)?.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test func credentialsFollowTheAWSEnvironmentConventions() {
        #expect(AWSCredentials.fromEnvironment([:]) == nil)
        #expect(AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "a"]) == nil)
        #expect(
            AWSCredentials.fromEnvironment([
                "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "",
            ]) == AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))
        #expect(
            AWSCredentials.fromEnvironment([
                "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "t",
            ])?.sessionToken == "t")
    }
}
