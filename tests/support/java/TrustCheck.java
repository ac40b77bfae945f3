// Validate a certificate chain (PEM file, leaf first) against a truststore with PKIX, as a TLS client would.
// Usage: java TrustCheck STORE TYPE CHAIN.pem   (store password in $TRUSTCHECK_STOREPASS)
// Prints "VALID <anchor subject>" and exits 0, or "INVALID <reason>" and exits 2.
import java.io.FileInputStream;
import java.security.KeyStore;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXCertPathValidatorResult;
import java.security.cert.PKIXParameters;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

public class TrustCheck {
    public static void main(String[] args) throws Exception {
        KeyStore ks = KeyStore.getInstance(args[1]);
        try (FileInputStream in = new FileInputStream(args[0])) {
            ks.load(in, System.getenv("TRUSTCHECK_STOREPASS").toCharArray());
        }
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> chain = new ArrayList<>();
        try (FileInputStream in = new FileInputStream(args[2])) {
            for (Object c : cf.generateCertificates(in)) {
                chain.add((X509Certificate) c);
            }
        }
        CertPath path = cf.generateCertPath(chain);
        PKIXParameters params = new PKIXParameters(ks);
        params.setRevocationEnabled(false);
        try {
            PKIXCertPathValidatorResult r = (PKIXCertPathValidatorResult) CertPathValidator.getInstance("PKIX")
                    .validate(path, params);
            System.out.println("VALID " + r.getTrustAnchor().getTrustedCert().getSubjectX500Principal());
        } catch (Exception e) {
            System.out.println("INVALID " + e);
            System.exit(2);
        }
    }
}
