#!/usr/bin/env python3
"""Raw-socket capture of Debian 12 WordPress and phpMyAdmin (Apache 2.4 + mod_php 8.2).

Extends capture.py (same helpers, same file conventions) with the PHP cases.

Usage: capture_php.py PRODUCT HOST PORT OUTDIR [--append]

  PRODUCT  wordpress | phpmyadmin | remote-sim
           remote-sim only captures /server-status while status.conf says
           "Require ip 192.0.2.1" instead of "Require local", i.e. what a
           non-local client gets (run with --append into the product dir).

Writes OUTDIR/NAME.request, OUTDIR/NAME.http and OUTDIR/INDEX.tsv exactly like
capture.py. Cases that depend on an earlier answer (the phpMyAdmin token and
cookies, the WordPress permalink behind ?p=1) are built from that answer.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture import exchange, _parse_headers  # noqa: E402

UA = b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n"


def mk(H):
    def get(path, extra=b"", method=b"GET", ver=b"HTTP/1.1", host=None):
        h = H if host is None else host
        return method + b" " + path + b" " + ver + b"\r\nHost: " + h + b"\r\n" + UA + extra + b"\r\n"

    def post(path, body, ctype=b"application/x-www-form-urlencoded", extra=b"", ver=b"HTTP/1.1"):
        return (b"POST " + path + b" " + ver + b"\r\nHost: " + H + b"\r\n" + UA + extra +
                b"Content-Type: " + ctype + b"\r\nContent-Length: " + str(len(body)).encode() +
                b"\r\n\r\n" + body)
    return get, post


def headers_of(resp):
    return _parse_headers(resp.split(b"\r\n\r\n", 1)[0])[1]


def set_cookies(resp):
    """name=value pairs of every Set-Cookie, in order (later ones win)."""
    jar = {}
    for k, v in headers_of(resp):
        if k == b"set-cookie":
            nv = v.split(b";", 1)[0]
            n, _, val = nv.partition(b"=")
            if val == b"deleted":
                jar.pop(n, None)
            else:
                jar[n] = val
    return jar


def location(resp):
    for k, v in headers_of(resp):
        if k == b"location":
            return v
    return None


def xml_call(method, params):
    p = b"".join(b"<param><value><string>" + x + b"</string></value></param>" for x in params)
    return (b'<?xml version="1.0"?>\n<methodCall><methodName>' + method +
            b"</methodName><params>" + p + b"</params></methodCall>\n")


def xml_multicall(pairs):
    calls = b""
    for user, pw in pairs:
        calls += (b"<value><struct>"
                  b"<member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member>"
                  b"<member><name>params</name><value><array><data>"
                  b"<value><string>" + user + b"</string></value>"
                  b"<value><string>" + pw + b"</string></value>"
                  b"</data></array></value></member>"
                  b"</struct></value>")
    return (b'<?xml version="1.0"?>\n<methodCall><methodName>system.multicall</methodName>'
            b"<params><param><value><array><data>" + calls +
            b"</data></array></value></param></params></methodCall>\n")


class Runner:
    def __init__(self, host, port, outdir, append):
        self.host, self.port, self.outdir = host, port, outdir
        self.index = []
        self.append = append

    def run(self, name, reqs):
        req, resp, state = exchange(self.host, self.port, reqs)
        with open("%s/%s.request" % (self.outdir, name), "wb") as f:
            f.write(req)
        with open("%s/%s.http" % (self.outdir, name), "wb") as f:
            f.write(resp)
        if not resp:
            first = "(no bytes)"
        elif resp.startswith(b"HTTP/"):
            first = resp.split(b"\r\n", 1)[0][:80].decode("latin-1")
        else:
            first = "(no status line: raw body) " + repr(resp[:40])[2:-1]
        self.index.append("%s\t%s\t%d\t%s" % (name, first, len(resp), state))
        print(self.index[-1], flush=True)
        time.sleep(0.05)
        return resp

    def write_index(self):
        path = "%s/INDEX.tsv" % self.outdir
        if self.append and os.path.exists(path):
            with open(path, "a") as f:
                f.write("\n".join(self.index) + "\n")
        else:
            with open(path, "w") as f:
                f.write("name\tfirst_line\tbytes\tconnection\n" + "\n".join(self.index) + "\n")


def wordpress(r, H):
    get, post = mk(H)
    TEST = b"Cookie: wordpress_test_cookie=WP%20Cookie%20check\r\n"
    redir = b"redirect_to=http%3A%2F%2Flocalhost%3A8181%2Fwp-admin%2F&testcookie=1"
    run = r.run

    # the blog home and framing variants
    root = run("get-root", [get(b"/")])
    run("head-root", [get(b"/", method=b"HEAD")])
    run("get-root-keepalive", [get(b"/", b"Connection: keep-alive\r\n")])
    run("get-root-close", [get(b"/", b"Connection: close\r\n")])
    run("get-root-http10", [b"GET / HTTP/1.0\r\nHost: " + H + b"\r\n" + UA + b"\r\n"])
    run("get-root-gzip", [get(b"/", b"Accept-Encoding: gzip, deflate\r\n")])
    run("keepalive-pair", [get(b"/"), get(b"/wp-login.php", b"Connection: close\r\n")])
    run("get-index-php", [get(b"/index.php")])
    run("get-p-1", [get(b"/?p=1")])
    # the login form and failed logins
    run("get-wp-login", [get(b"/wp-login.php")])
    run("head-wp-login", [get(b"/wp-login.php", method=b"HEAD")])
    run("post-wp-login-wrongpass-cookie",
        [post(b"/wp-login.php", b"log=admin&pwd=wrongpass&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-wrongpass-nocookie",
        [post(b"/wp-login.php", b"log=admin&pwd=wrongpass&wp-submit=Log+In&" + redir)])
    run("post-wp-login-unknownuser-cookie",
        [post(b"/wp-login.php", b"log=nosuchuser&pwd=wrongpass&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-unknownuser-nocookie",
        [post(b"/wp-login.php", b"log=nosuchuser&pwd=wrongpass&wp-submit=Log+In&" + redir)])
    run("post-wp-login-email-wrongpass",
        [post(b"/wp-login.php", b"log=admin%40example.com&pwd=wrongpass&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-email-unknown",
        [post(b"/wp-login.php", b"log=nobody%40example.com&pwd=wrongpass&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-empty-both",
        [post(b"/wp-login.php", b"log=&pwd=&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-empty-pwd",
        [post(b"/wp-login.php", b"log=admin&pwd=&wp-submit=Log+In&" + redir, extra=TEST)])
    run("post-wp-login-empty-user",
        [post(b"/wp-login.php", b"log=&pwd=wrongpass&wp-submit=Log+In&" + redir, extra=TEST)])
    hbody = b"log=admin&pwd=test&wp-submit=Log+In"
    run("post-wp-login-hydra-curlstyle",
        [post(b"/wp-login.php", hbody)])
    # THC-Hydra 9.x http-post-form builds exactly this (hydra-http-form.c:
    # HTTP/1.0, Host, User-Agent, Content-Length, Content-Type, Cookie; the
    # Cookie value is empty when its cookie-fetching GET found no cookie).
    hreq = (b"POST /wp-login.php HTTP/1.0\r\nHost: " + H + b"\r\nUser-Agent: Mozilla/5.0 (Hydra)\r\n"
            b"Content-Length: " + str(len(hbody)).encode() + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nCookie: \r\n\r\n" + hbody)
    run("post-wp-login-hydra", [hreq])
    hreq2 = (b"POST /wp-login.php HTTP/1.0\r\nHost: " + H + b"\r\nUser-Agent: Mozilla/5.0 (Hydra)\r\n"
             b"Content-Length: " + str(len(hbody)).encode() + b"\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\n"
             b"Cookie: wordpress_test_cookie=WP%20Cookie%20check\r\n\r\n" + hbody)
    run("post-wp-login-hydra-withcookie", [hreq2])
    run("get-wp-login-lostpassword", [get(b"/wp-login.php?action=lostpassword")])
    run("get-wp-login-register", [get(b"/wp-login.php?action=register")])
    # wp-admin
    run("get-wp-admin", [get(b"/wp-admin/")])
    run("get-wp-admin-noslash", [get(b"/wp-admin")])
    run("get-wp-admin-index", [get(b"/wp-admin/index.php")])
    run("get-wp-admin-ajax", [get(b"/wp-admin/admin-ajax.php")])
    run("get-wp-admin-install", [get(b"/wp-admin/install.php")])
    run("get-wp-admin-setup-config", [get(b"/wp-admin/setup-config.php")])
    run("get-login-alias", [get(b"/login")])
    run("get-admin-alias", [get(b"/admin")])
    # xmlrpc
    run("get-xmlrpc", [get(b"/xmlrpc.php")])
    run("post-xmlrpc-listmethods",
        [post(b"/xmlrpc.php", xml_call(b"system.listMethods", []), b"text/xml")])
    run("post-xmlrpc-getusersblogs-wrongpass",
        [post(b"/xmlrpc.php", xml_call(b"wp.getUsersBlogs", [b"admin", b"wrongpass"]), b"text/xml")])
    run("post-xmlrpc-getusersblogs-unknownuser",
        [post(b"/xmlrpc.php", xml_call(b"wp.getUsersBlogs", [b"nosuchuser", b"wrongpass"]), b"text/xml")])
    run("post-xmlrpc-multicall-3",
        [post(b"/xmlrpc.php", xml_multicall([(b"admin", b"password1"), (b"admin", b"123456"),
                                               (b"admin", b"qwerty")]), b"text/xml")])
    run("post-xmlrpc-unknown-method",
        [post(b"/xmlrpc.php", xml_call(b"foo.bar", []), b"text/xml")])
    run("post-xmlrpc-malformed", [post(b"/xmlrpc.php", b"this is not xml", b"text/xml")])
    run("post-xmlrpc-empty", [post(b"/xmlrpc.php", b"", b"text/xml")])
    run("post-xmlrpc-pingback-ping",
        [post(b"/xmlrpc.php", xml_call(b"pingback.ping", [b"http://example.com/", b"http://localhost:8181/?p=1"]),
              b"text/xml")])
    run("get-xmlrpc-rsd", [get(b"/xmlrpc.php?rsd")])
    # REST API
    run("get-wp-json", [get(b"/wp-json/")])
    run("get-wp-json-users", [get(b"/wp-json/wp/v2/users")])
    run("get-rest-route-users", [get(b"/?rest_route=/wp/v2/users")])
    run("get-wp-json-users-1", [get(b"/wp-json/wp/v2/users/1")])
    run("get-wp-json-users-me", [get(b"/wp-json/wp/v2/users/me")])
    run("get-wp-json-users-2", [get(b"/wp-json/wp/v2/users/2")])
    run("get-wp-json-posts", [get(b"/wp-json/wp/v2/posts")])
    run("get-wp-json-nosuchroute", [get(b"/wp-json/no/such")])
    run("get-wp-json-noslash", [get(b"/wp-json")])
    # enumeration and well-known files
    a = run("get-author-1", [get(b"/?author=1")])
    loc = location(a)
    if loc:
        run("get-author-1-followed", [get(re.sub(rb"^https?://[^/]+", b"", loc))])
    run("get-author-2", [get(b"/?author=2")])
    run("get-readme", [get(b"/readme.html")])
    run("get-license", [get(b"/license.txt")])
    run("get-robots", [get(b"/robots.txt")])
    run("get-favicon", [get(b"/favicon.ico")])
    run("get-sitemap", [get(b"/wp-sitemap.xml")])
    run("get-feed", [get(b"/feed/")])
    run("get-comments-feed", [get(b"/comments/feed/")])
    run("get-wp-content", [get(b"/wp-content/")])
    run("get-wp-content-plugins", [get(b"/wp-content/plugins/")])
    run("get-wp-content-uploads", [get(b"/wp-content/uploads/")])
    run("get-wp-content-themes-tt3-style", [get(b"/wp-content/themes/twentytwentythree/style.css")])
    run("get-wp-content-akismet-readme", [get(b"/wp-content/plugins/akismet/readme.txt")])
    run("get-wp-content-plugin-nosuch-readme", [get(b"/wp-content/plugins/no-such/readme.txt")])
    run("get-wp-includes", [get(b"/wp-includes/")])
    run("get-wp-includes-version-php", [get(b"/wp-includes/version.php")])
    run("head-wp-includes-jquery", [get(b"/wp-includes/js/jquery/jquery.min.js", method=b"HEAD")])
    run("get-wp-config", [get(b"/wp-config.php")])
    run("get-wp-config-bak", [get(b"/wp-config.php.bak")])
    run("get-wp-config-sample", [get(b"/wp-config-sample.php")])
    run("get-wp-cron", [get(b"/wp-cron.php")])
    run("get-wp-links-opml", [get(b"/wp-links-opml.php")])
    run("get-wp-trackback", [get(b"/wp-trackback.php")])
    run("get-wp-signup", [get(b"/wp-signup.php")])
    run("get-no-such-page", [get(b"/no-such-page/")])
    run("get-no-such-php", [get(b"/no-such.php")])
    run("head-no-such-page", [get(b"/no-such-page/", method=b"HEAD")])
    run("post-root", [post(b"/", b"user=admin&pass=admin")])
    run("get-search", [get(b"/?s=test")])
    # files other scanners ask a PHP host for
    run("get-env", [get(b"/.env")])
    run("get-git-config", [get(b"/.git/config")])
    run("get-htaccess", [get(b"/.htaccess")])
    run("get-server-status", [get(b"/server-status")])
    run("get-phpinfo", [get(b"/phpinfo.php")])
    run("get-pma", [get(b"/pma/")])
    run("get-phpMyAdmin-caps", [get(b"/phpMyAdmin/")])
    run("get-phpmyadmin", [get(b"/phpmyadmin/")])
    # Debian's wp-config.php picks /etc/wordpress/config-<Host>.php: other Host values
    run("get-root-host-ip", [get(b"/", host=b"127.0.0.1:8181")])
    run("get-root-http10-nohost", [b"GET / HTTP/1.0\r\n\r\n"])
    # same config file (the port is stripped) but not the site URL: canonical redirect
    run("get-root-host-noport", [get(b"/", host=b"localhost")])
    run("get-wp-login-host-noport", [get(b"/wp-login.php", host=b"localhost")])
    run("get-wp-login-keepalive", [get(b"/wp-login.php", b"Connection: keep-alive\r\n")])
    # the post behind ?p=1 (its pretty permalink holds the install date)
    p1 = open("%s/get-p-1.http" % r.outdir, "rb").read()
    loc = location(p1)
    if loc:
        run("get-hello-world", [get(re.sub(rb"^https?://[^/]+", b"", loc))])
    return root


def phpmyadmin(r, H):
    get, post = mk(H)
    run = r.run
    first = run("get-pma-root", [get(b"/phpmyadmin/")])
    run("head-pma-root", [get(b"/phpmyadmin/", method=b"HEAD")])
    run("get-pma-root-keepalive", [get(b"/phpmyadmin/", b"Connection: keep-alive\r\n")])
    run("get-pma-root-http10", [b"GET /phpmyadmin/ HTTP/1.0\r\nHost: " + H + b"\r\n" + UA + b"\r\n"])
    run("get-pma-root-gzip", [get(b"/phpmyadmin/", b"Accept-Encoding: gzip, deflate\r\n")])
    run("get-pma-noslash", [get(b"/phpmyadmin")])
    run("get-pma-index", [get(b"/phpmyadmin/index.php")])
    run("get-pma-index-route", [get(b"/phpmyadmin/index.php?route=/")])

    # browser-style wrong login: token and cookies from a fresh GET
    def browser_login(name, user, pw, extra_cookie=b""):
        g = run(name + "-get", [get(b"/phpmyadmin/")])
        jar = set_cookies(g)
        m = re.search(rb'name="token" value="([^"]+)"', g)
        token = m.group(1) if m else b""
        ck = b"; ".join(k + b"=" + v for k, v in jar.items())
        body = (b"set_session=" + jar.get(b"phpMyAdmin", b"") +
                b"&pma_username=" + user + b"&pma_password=" + pw +
                b"&server=1&route=%2F&token=" + token)
        return run(name, [post(b"/phpmyadmin/index.php", body,
                               extra=b"Cookie: " + ck + b"\r\n" + extra_cookie)])

    browser_login("post-pma-login-wrong-browser", b"root", b"wrong")
    browser_login("post-pma-login-unknownuser-browser", b"admin", b"admin")
    browser_login("post-pma-login-emptypw-browser", b"root", b"")
    # the form fields exactly as the brief gives them (no set_session)
    g = run("post-pma-login-wrong-brief-get", [get(b"/phpmyadmin/")])
    jar = set_cookies(g)
    m = re.search(rb'name="token" value="([^"]+)"', g)
    token = m.group(1) if m else b""
    ck = b"; ".join(k + b"=" + v for k, v in jar.items())
    run("post-pma-login-wrong-brief",
        [post(b"/phpmyadmin/index.php", b"pma_username=root&pma_password=wrong&server=1&route=/&token=" + token,
              extra=b"Cookie: " + ck + b"\r\n")])
    # scanner style: no token, no cookies
    run("post-pma-login-wrong-notoken",
        [post(b"/phpmyadmin/index.php", b"pma_username=root&pma_password=wrong&server=1&route=/")])
    run("post-pma-login-wrong-notoken-root",
        [post(b"/phpmyadmin/", b"pma_username=root&pma_password=wrong")])
    run("post-pma-login-badtoken-nocookie",
        [post(b"/phpmyadmin/index.php",
              b"pma_username=root&pma_password=wrong&server=1&route=/&token=0123456789abcdef")])
    run("get-pma-doc", [get(b"/phpmyadmin/doc/html/index.html")])
    run("get-pma-setup", [get(b"/phpmyadmin/setup/")])
    run("get-pma-readme", [get(b"/phpmyadmin/README")])
    run("get-pma-changelog", [get(b"/phpmyadmin/ChangeLog")])
    run("get-pma-nosuch-php", [get(b"/phpmyadmin/no-such.php")])
    run("get-pma-robots", [get(b"/phpmyadmin/robots.txt")])
    run("get-pma-favicon", [get(b"/phpmyadmin/favicon.ico", method=b"HEAD")])
    run("get-pma-config-inc", [get(b"/phpmyadmin/config.inc.php")])
    run("get-pma-libraries", [get(b"/phpmyadmin/libraries/")])
    run("get-pma-templates", [get(b"/phpmyadmin/templates/")])
    run("get-pma-js-messages", [get(b"/phpmyadmin/js/messages.php")])
    run("get-pma-url-php", [get(b"/phpmyadmin/url.php?url=https://www.phpmyadmin.net/")])
    run("get-pma-themes-css", [get(b"/phpmyadmin/themes/pmahomme/css/theme.css", method=b"HEAD")])
    run("get-pma-show-config-errors", [get(b"/phpmyadmin/show_config_errors.php")])
    run("get-pma-lowercase-no-slash-index", [get(b"/phpmyadmin/index.php?route=/server/databases")])
    run("get-pma-caps", [get(b"/phpMyAdmin/")])
    run("get-pma-short", [get(b"/pma/")])
    run("get-root", [get(b"/")])
    run("get-env", [get(b"/.env")])
    run("get-git-config", [get(b"/.git/config")])
    run("get-server-status", [get(b"/server-status")])
    run("get-phpinfo", [get(b"/phpinfo.php")])
    run("get-javascript-jquery", [get(b"/javascript/jquery/jquery.js", method=b"HEAD")])
    return first


def main():
    product, host, port, outdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    append = "--append" in sys.argv[5:]
    H = ("localhost:%d" % port).encode()
    r = Runner(host, port, outdir, append)
    if product == "wordpress":
        wordpress(r, H)
    elif product == "phpmyadmin":
        phpmyadmin(r, H)
    elif product == "remote-sim":
        get, _ = mk(H)
        r.run("get-server-status-remote-sim", [get(b"/server-status")])
    else:
        sys.exit("unknown product " + product)
    r.write_index()


if __name__ == "__main__":
    main()
