import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * One mutual-TLS handshake on loopback between a server and a client, each with its own keystore and truststore.
 *
 * Usage: java Mtls SERVER_KS SERVER_TS CLIENT_KS CLIENT_TS
 * Passwords come from the environment (never argv): MTLS_SERVER_KS, MTLS_SERVER_TS, MTLS_CLIENT_KS, MTLS_CLIENT_TS.
 * The server requires client authentication. Prints "OK server saw: <client subject>; client saw: <server
 * subject>" and exits 0, or prints "REFUSED: <reason>" and exits 1. Every socket has a 20 s timeout.
 */
public class Mtls {
    static KeyStore load(String path, String env) throws Exception {
        return KeyStore.getInstance(new File(path), System.getenv(env).toCharArray());
    }

    static SSLContext context(String ks, String ksEnv, String ts, String tsEnv) throws Exception {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(load(ks, ksEnv), System.getenv(ksEnv).toCharArray());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(load(ts, tsEnv));
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    public static void main(String[] args) throws Exception {
        SSLContext server = context(args[0], "MTLS_SERVER_KS", args[1], "MTLS_SERVER_TS");
        SSLContext client = context(args[2], "MTLS_CLIENT_KS", args[3], "MTLS_CLIENT_TS");
        InetAddress loopback = InetAddress.getLoopbackAddress();
        SSLServerSocket listener = (SSLServerSocket) server.getServerSocketFactory().createServerSocket(0, 1, loopback);
        listener.setNeedClientAuth(true);
        listener.setSoTimeout(20000);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        Future<String> served = pool.submit(() -> {
            try (SSLSocket s = (SSLSocket) listener.accept()) {
                s.setSoTimeout(20000);
                s.startHandshake();
                X509Certificate peer = (X509Certificate) s.getSession().getPeerCertificates()[0];
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                int b = in.read();
                out.write(b);
                out.flush();
                return peer.getSubjectX500Principal().getName();
            }
        });
        String result;
        try (SSLSocket c = (SSLSocket) client.getSocketFactory().createSocket(loopback, listener.getLocalPort())) {
            c.setSoTimeout(20000);
            c.startHandshake();
            X509Certificate peer = (X509Certificate) c.getSession().getPeerCertificates()[0];
            c.getOutputStream().write(42);
            c.getOutputStream().flush();
            if (c.getInputStream().read() != 42) throw new IllegalStateException("no echo");
            result = "client saw: " + peer.getSubjectX500Principal().getName();
        } catch (Exception e) {
            result = null;
            String why = e.toString();
            try {
                served.get(20, TimeUnit.SECONDS);
            } catch (Exception se) {
                why = why + " / server: " + se.getCause();
            }
            System.out.println("REFUSED: " + why);
            pool.shutdownNow();
            System.exit(1);
        }
        try {
            String seen = served.get(20, TimeUnit.SECONDS);
            System.out.println("OK server saw: " + seen + "; " + result);
        } catch (Exception e) {
            System.out.println("REFUSED: server: " + e.getCause());
            pool.shutdownNow();
            System.exit(1);
        }
        pool.shutdownNow();
        listener.close();
    }
}
